// libFuzzer target for notifications.cfg, its priv file and the webhook
// templates. The input is "<notifications.cfg>\0<priv/notifications.cfg>";
// errors must be InvalidArgument naming one of the two files, a parsed config
// must name only targets that exist, and rendering a parsed webhook must not
// crash. Nothing is sent.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "notify/notify.h"
#include "notify/template.h"
#include "notify/transport.h"

namespace {

void Check(bool cond) {
  if (!cond) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ctdump::notify;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t nul = input.find('\0');
  std::string_view text = input.substr(0, nul);
  std::string_view priv = nul == std::string_view::npos ? "" : input.substr(nul + 1);
  ctdump::Result<Config> config = ParseConfig(text, "n.cfg", priv, "p.cfg");
  if (!config.ok()) {
    Check(config.status().code() == ctdump::Code::kInvalidArgument);
    Check(config.status().message().find("n.cfg:") == 0 ||
          config.status().message().find("p.cfg:") == 0);
  } else {
    Notification n;
    n.severity = Severity::kError;
    n.title = "t\"\n";
    n.message = "m\\";
    n.fields = {{"type", "vzdump"}, {"hostname", "h"}};
    for (const Matcher& m : config->matchers) {
      for (const std::string& t : m.targets) Check(config->FindTarget(t) != nullptr);
    }
    for (const std::string& t : MatchingTargets(*config, n)) Check(config->FindTarget(t));
    for (const Target& t : config->targets) {
      if (t.type == TargetType::kWebhook) (void)BuildWebhookRequest(t, n);
    }
  }
  // The whole input as one template, too.
  ctdump::Result<Template> tpl = Template::Parse(input, {"a"});
  if (tpl.ok()) {
    TemplateData d;
    d.fields = {{"x", "y"}};
    d.secrets = {{"a", "b"}};
    (void)tpl->Render(d);
  } else {
    Check(tpl.status().code() == ctdump::Code::kInvalidArgument);
  }
  return 0;
}
