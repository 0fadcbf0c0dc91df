// The JSON renderer's events (docs/json-events.md), each checked against
// docs/json-events.schema.json by a validator of the schema keywords that
// file uses ($ref, oneOf, allOf, if/then, type, const, enum, required,
// properties, additionalProperties, items, minimum); tests/integration's
// json_events_schema and test_json_events check with python3-jsonschema.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/log_capture.h"
#include "cli/renderer.h"

namespace ctdump::cli {
namespace {

using json = nlohmann::json;

class SchemaValidator {
 public:
  explicit SchemaValidator(json schema) : root_(std::move(schema)) {}

  // Why `v` does not match; empty when it does.
  std::vector<std::string> Errors(const json& v) const {
    std::vector<std::string> out;
    Check(root_, v, "$", &out);
    return out;
  }

 private:
  static bool TypeIs(const std::string& t, const json& v) {
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "string") return v.is_string();
    if (t == "integer") return v.is_number_integer();
    if (t == "number") return v.is_number();
    if (t == "boolean") return v.is_boolean();
    if (t == "null") return v.is_null();
    return false;
  }

  void Check(const json& s, const json& v, const std::string& at,
             std::vector<std::string>* out) const {
    auto fail = [&](const std::string& why) { out->push_back(at + ": " + why); };
    if (s.contains("$ref")) {
      std::string ref = s["$ref"];  // "#/$defs/<name>"
      Check(root_["$defs"][ref.substr(std::string("#/$defs/").size())], v, at, out);
    }
    if (s.contains("type")) {
      bool any = false;
      for (const auto& t : s["type"].is_array() ? s["type"] : json::array({s["type"]}))
        any = any || TypeIs(t, v);
      if (!any) return fail("not of type " + s["type"].dump());
    }
    if (s.contains("const") && v != s["const"]) fail("not " + s["const"].dump());
    if (s.contains("enum") && std::find(s["enum"].begin(), s["enum"].end(), v) == s["enum"].end())
      fail(v.dump() + " not in " + s["enum"].dump());
    if (s.contains("minimum") && v.is_number() && v.get<double>() < s["minimum"].get<double>())
      fail("below the minimum");
    if (s.contains("oneOf")) {
      int matched = 0;
      for (const auto& sub : s["oneOf"]) {
        std::vector<std::string> e;
        Check(sub, v, at, &e);
        if (e.empty()) ++matched;
      }
      if (matched != 1) fail("matches " + std::to_string(matched) + " of oneOf");
    }
    if (s.contains("allOf"))
      for (const auto& sub : s["allOf"]) Check(sub, v, at, out);
    if (s.contains("if")) {
      std::vector<std::string> e;
      Check(s["if"], v, at, &e);
      if (e.empty() && s.contains("then")) Check(s["then"], v, at, out);
    }
    if (v.is_object()) {
      for (const auto& r : s.value("required", json::array()))
        if (!v.contains(r)) fail("lacks " + r.get<std::string>());
      const json props = s.value("properties", json::object());
      for (const auto& [k, x] : v.items()) {
        if (props.contains(k))
          Check(props[k], x, at + "." + k, out);
        else if (s.contains("additionalProperties") && s["additionalProperties"] == false)
          fail("unexpected field " + k);
      }
    }
    if (v.is_array() && s.contains("items"))
      for (size_t i = 0; i < v.size(); ++i)
        Check(s["items"], v[i], at + "[" + std::to_string(i) + "]", out);
  }

  json root_;
};

SchemaValidator LoadSchema() {
  std::ifstream f(CTDUMP_SOURCE_DIR "/docs/json-events.schema.json");
  EXPECT_TRUE(f.good());
  return SchemaValidator(json::parse(f));
}

// The events `render` writes to stdout, each checked against the schema.
std::vector<json> Events(const std::function<void()>& render) {
  testing::internal::CaptureStdout();
  render();
  std::istringstream lines(testing::internal::GetCapturedStdout());
  static const SchemaValidator schema = LoadSchema();
  std::vector<json> out;
  for (std::string line; std::getline(lines, line);) {
    json e = json::parse(line);
    EXPECT_EQ(schema.Errors(e), std::vector<std::string>()) << line;
    out.push_back(e);
  }
  return out;
}

std::vector<std::string> Kinds(const std::vector<json>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e["event"]);
  return out;
}

TEST(JsonRendererTest, ABackupJobsStream) {
  auto events = Events([] {
    auto r = MakeJsonRenderer("backup");
    r->Log(LogLevel::kInfo, "starting");
    r->OnJobStart(JobInfo{{"c1", "c2"}, "ds", "", "suspend"});
    r->OnGuestStart("c1");
    r->Log(LogLevel::kWarn, "a socket");
    Progress p;
    p.phase = "rsync-first";
    p.bytes = 10;
    p.files = 1;
    p.total_bytes = 100;
    r->OnProgress(p);
    p.bytes = 50;  // within 500 ms: held back ...
    r->OnProgress(p);
    p.phase = "backup";  // ... but a new phase is written at once, the held one first
    p.bytes = 5;
    p.total_files = 7;
    r->OnProgress(p);
    p.bytes = 90;  // held back, then written before guest-end
    r->OnProgress(p);
    r->OnGuestEnd(GuestSummary{"c1", true, "", "ct/c1/x", 123, 4, 1});
    r->OnGuestStart("c2");
    r->OnGuestEnd(GuestSummary{"c2", false, "no such container", "", std::nullopt, 0, 0});
    r->Log(LogLevel::kErr, "Backup job finished with errors");
    backup::JobResult result;
    backup::GuestResult c1, c2;
    c1.vmid = "c1";
    c1.archive = "ct/c1/x";
    c1.size = 123;
    c1.seconds = 4;
    c1.warnings = 1;
    c2.vmid = "c2";
    c2.status = NotFoundError("no such container");
    result.guests = {c1, c2};
    r->JobEnd(result);
  });
  EXPECT_EQ(Kinds(events),
            (std::vector<std::string>{"log", "job-start", "guest-start", "log", "progress",
                                      "progress", "progress", "progress", "guest-end",
                                      "guest-start", "guest-end", "log", "job-end"}));
  for (const auto& e : events) {
    EXPECT_EQ(e["v"], 1);
    EXPECT_TRUE(e["time"].is_number_integer());
  }
  EXPECT_FALSE(events[0].contains("vmid"));
  EXPECT_EQ(events[1]["vmids"], json({"c1", "c2"}));
  EXPECT_EQ(events[3]["vmid"], "c1");
  EXPECT_EQ(events[4]["bytes"], 10);
  EXPECT_EQ(events[5]["bytes"], 50);  // the held-back last value of rsync-first
  EXPECT_EQ(events[5]["phase"], "rsync-first");
  EXPECT_EQ(events[6]["phase"], "backup");
  EXPECT_EQ(events[6]["total-files"], 7);
  EXPECT_EQ(events[7]["bytes"], 90);
  EXPECT_EQ(events[7]["vmid"], "c1");
  EXPECT_EQ(events[8]["size"], 123);
  EXPECT_FALSE(events[11].contains("vmid"));  // after guest-end: the job's line
  const json& end = events[12];
  EXPECT_EQ(end["ok"], false);
  EXPECT_EQ(end["exit"], 1);
  EXPECT_EQ(end["guests"][1]["error"], "no such container");
  json g = events[8];
  for (const char* k : {"v", "event", "time"}) g.erase(k);
  EXPECT_EQ(end["guests"][0], g);  // job-end repeats guest-end
}

TEST(JsonRendererTest, ResultAndErrorEvents) {
  auto events = Events([] {
    MakeJsonRenderer("gc")->OnResult(true, 0,
                                     {{"storage", "ds"},
                                      {"dry-run", true},
                                      {"chunks", 3},
                                      {"referenced-chunks", 2},
                                      {"removed-chunks", 1},
                                      {"removed-bytes", 10},
                                      {"kept-recent", 0},
                                      {"leftovers-removed", 0},
                                      {"bad-removed", 0},
                                      {"temps-removed", 0},
                                      {"dirs-removed", 0}});
    auto l = MakeJsonRenderer("list");
    EXPECT_EQ(Fail(*l, NotFoundError("storage 'x' does not exist")), kExitFailed);
    EXPECT_EQ(UsageError(*l, InvalidArgumentError("bad volume")), kExitUsage);
    EXPECT_EQ(FailOrUsage(*l, InvalidArgumentError("ctdump.conf:2: bad")), kExitUsage);
  });
  ASSERT_EQ(Kinds(events), (std::vector<std::string>{"result", "error", "error", "error"}));
  EXPECT_EQ(events[0]["command"], "gc");
  EXPECT_EQ(events[0]["data"]["removed-bytes"], 10);
  EXPECT_EQ(events[1]["command"], "list");
  EXPECT_EQ(events[1]["exit"], 1);
  EXPECT_EQ(events[2]["exit"], 2);
  EXPECT_EQ(events[3]["exit"], 2);
}

TEST(JsonRendererTest, TheSchemaChecksResultData) {
  SchemaValidator schema = LoadSchema();
  json list = {{"v", 1},
               {"event", "result"},
               {"time", 1},
               {"command", "list"},
               {"ok", true},
               {"exit", 0},
               {"data", json::array({{{"volid", "ds:x"}}})}};
  EXPECT_FALSE(schema.Errors(list).empty());  // a backup lacks its fields
  list["data"] = json::array();
  EXPECT_TRUE(schema.Errors(list).empty());
  json log = {{"v", 1}, {"event", "log"}, {"time", 1}, {"level", "debug"}, {"message", "m"}};
  EXPECT_FALSE(schema.Errors(log).empty());
}

// What is logged after the terminal event (a backup's notification, sent
// after the summary) is written before it: the terminal event stays last.
TEST(JsonRendererTest, TheTerminalEventStaysTheLastLine) {
  auto events = Events([] {
    auto r = MakeJsonRenderer("backup");
    r->JobEnd(backup::JobResult());
    r->Log(LogLevel::kWarn, "sending the notification failed");
  });
  EXPECT_EQ(Kinds(events), (std::vector<std::string>{"log", "job-end"}));
}

// A pending progress event is not lost when nothing follows it.
TEST(JsonRendererTest, TheLastProgressIsWrittenAtTheEnd) {
  auto events = Events([] {
    auto r = MakeJsonRenderer("verify");
    Progress p;
    p.phase = "verify";
    p.bytes = 1;
    r->OnProgress(p);
    p.bytes = 2;
    r->OnProgress(p);
  });
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1]["bytes"], 2);
  EXPECT_TRUE(events[1]["vmid"].is_null());
}

// LogCapture (job run, backup notifications) passes every hook on and keeps
// an error as an "ERROR: " line.
TEST(JsonRendererTest, LogCaptureForwardsEverything) {
  std::vector<std::string> lines;
  auto events = Events([&] {
    auto r = MakeJsonRenderer("job run");
    LogCapture c(*r);
    c.OnJobStart(JobInfo{{"c1"}, "", "/d", "stop"});
    c.OnGuestStart("c1");
    c.Log(LogLevel::kInfo, "inside");
    c.OnGuestEnd(GuestSummary{"c1", true, "", "", std::nullopt, 1, 0});
    c.Error("lock busy", kExitFailed);
    c.OnResult(false, kExitFailed, json::object());
    lines = c.lines();
  });
  EXPECT_EQ(Kinds(events), (std::vector<std::string>{"job-start", "guest-start", "log", "guest-end",
                                                     "error", "result"}));
  EXPECT_EQ(events[0]["storage"], nullptr);
  EXPECT_EQ(events[0]["dumpdir"], "/d");
  EXPECT_EQ(events[2]["vmid"], "c1");
  EXPECT_EQ(lines, (std::vector<std::string>{"INFO: inside", "ERROR: lock busy"}));
}

}  // namespace
}  // namespace ctdump::cli
