#pragma once
// Test helpers for running our binaries as child processes.
#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace testsupport {

// Path of one of our built executables: "<build>/bin/<name>" (hookd, deployd, deploy, kube-sim;
// kube-sim's is the tree's DEPLOY_KUBE_SIM when that is set).
std::string BinaryPath(const std::string& name);
// Repository root (for examples/, migrations/).
std::string SourceDir();
// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();
// Polls until 127.0.0.1:port accepts a connection. false on timeout.
bool WaitForPort(int port, std::chrono::milliseconds timeout);
// Fresh empty directory under $TMPDIR, removed by the caller if wanted.
std::string MakeTempDir(const std::string& prefix);
std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& content);
// A number from /proc/<pid>/status, e.g. "VmHWM" (the resident set peak, KiB) or "Threads"; -1
// when the process or the field is gone.
long ProcStatus(int pid, const std::string& field);

// A child process; stdout+stderr go to `log_path` (a temp file when empty).
// The destructor sends SIGTERM, waits up to 5 s, then SIGKILL.
class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& argv,
                        const std::map<std::string, std::string>& extra_env = {},
                        std::string log_path = "");
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  int Pid() const { return pid_; }
  bool Running();
  // SIGTERM and wait; returns the exit code (128+signal if killed by a signal).
  int Stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  // Wait for exit without signalling; -1 on timeout.
  int Wait(std::chrono::milliseconds timeout);
  std::string Log() const;
  const std::string& LogPath() const { return log_path_; }

 private:
  int pid_ = -1;
  int exit_code_ = -1;
  std::string log_path_;
};

struct RunResult {
  int exit_code = -1;  // -1 on timeout (the process is killed)
  std::string out;
  std::string err;
};
// Runs to completion. The child inherits the environment plus `extra_env`; a value of
// "\x01unset" removes that variable.
RunResult Run(const std::vector<std::string>& argv,
              const std::map<std::string, std::string>& extra_env = {},
              std::chrono::milliseconds timeout = std::chrono::seconds(60),
              const std::string& stdin_data = "");

}  // namespace testsupport
