// A provider implemented by an external executable speaking protocol v1.
//
// The main instance (host root) is started by Create() and answers every
// method except backup_container; for each container backup a worker
// instance of the same executable is started as the container's root in a
// user namespace and receives hello(role worker), backup_container, shutdown.
#ifndef CTDUMP_PROVIDER_EXTERNAL_PROVIDER_H_
#define CTDUMP_PROVIDER_EXTERNAL_PROVIDER_H_

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ctdump/observer.h"
#include "ctdump/provider.h"
#include "ctdump/section_config.h"
#include "provider/protocol_client.h"

namespace ctdump::provider {

struct ExternalProviderOptions {
  // Timeout of backup_container (storage key `timeout` overrides both).
  std::chrono::seconds backup_timeout{3600};
  // Timeout of every other request.
  std::chrono::seconds call_timeout{300};
};

// hello's optional restore keys (docs/provider-protocol.md §6).
struct RestoreOffer {
  std::vector<RestoreMechanism> mechanisms;                                   // restore-mechanisms
  std::vector<std::pair<RestoreMechanism, std::vector<std::string>>> losses;  // restore-losses
};

// Reads `restore-mechanisms` and `restore-losses` from a hello result;
// absent keys leave `out` empty. An ill-formed value is an error naming the
// key, prefixed by `label` (the provider).
Status ParseRestoreOffer(const nlohmann::json& hello, const std::string& label, RestoreOffer* out);

class ExternalProvider : public Provider {
 public:
  // Starts the main instance and performs the hello handshake. `section` is a
  // storage.cfg section of type "provider" with a `command` key.
  static Result<std::unique_ptr<ExternalProvider>> Create(const Section& section,
                                                          Observer* observer);
  ~ExternalProvider() override;

  const std::string& storage_id() const override { return storage_id_; }
  const std::string& name() const override { return provider_name_; }
  bool HasFeature(std::string_view feature) const override;
  bool external() const override { return true; }
  void SetObserver(Observer* observer) override;

  Status JobInit(int64_t start_time) override;
  Status JobCleanup() override;
  Result<std::string> BackupInit(const std::string& vmid, int64_t start_time) override;
  Result<std::string> BackupGetMechanism(const std::string& vmid) override;
  Result<nlohmann::json> BackupContainerPrepare(const std::string& vmid,
                                                const BackupInfo& info) override;
  Status BackupContainer(const IdMap& map, const BackupContainerRequest& request) override;
  Result<std::optional<uint64_t>> BackupCleanup(const std::string& vmid, bool vmtype_known,
                                                bool success, const std::string& error) override;
  Status BackupHandleLogFile(const std::string& vmid, const std::string& filename) override;
  std::vector<RestoreMechanism> OfferedRestoreMechanisms() const override {
    return offer_.mechanisms;
  }
  std::vector<std::string> RestoreLosses(RestoreMechanism m) const override;
  void RequestRestoreMechanism(std::optional<RestoreMechanism> m) override {
    requested_mechanism_ = m;
  }
  Result<RestoreMechanism> RestoreGetMechanism(const std::string& volname) override;
  Result<std::string> ArchiveGetGuestConfig(const std::string& volname) override;
  Result<std::optional<std::string>> ArchiveGetFirewallConfig(const std::string& volname) override;
  Result<std::string> RestoreContainerInit(const std::string& volname,
                                           RestoreMechanism mechanism) override;
  Status RestoreContainerCleanup(const std::string& volname) override;
  Result<std::vector<BackupEntry>> ListBackups(const std::optional<std::string>& vmid) override;
  Status DeleteBackup(const std::string& volname) override;
  Status UpdateAttribute(const std::string& volname, const std::string& name,
                         const nlohmann::json& value) override;
  Status Shutdown() override;

 private:
  ExternalProvider() = default;
  // Starts an instance (main: as host root; worker: as container root) and says hello.
  Result<std::unique_ptr<ProtocolClient>> StartInstance(const std::string& role, const IdMap* map,
                                                        std::set<std::string>* features,
                                                        std::string* provider_name,
                                                        RestoreOffer* offer = nullptr);
  Result<nlohmann::json> CallMain(const std::string& method, const nlohmann::json& params);
  Status RequireFeature(std::string_view feature, std::string_view method) const;

  std::string storage_id_;
  std::string command_;
  nlohmann::json storage_config_;
  std::string provider_name_;
  std::set<std::string> features_;
  RestoreOffer offer_;
  std::optional<RestoreMechanism> requested_mechanism_;
  ExternalProviderOptions options_;
  Observer* observer_ = nullptr;
  std::unique_ptr<ProtocolClient> main_;
  std::optional<int64_t> job_start_time_;  // set once job_init succeeded
};

}  // namespace ctdump::provider

#endif  // CTDUMP_PROVIDER_EXTERNAL_PROVIDER_H_
