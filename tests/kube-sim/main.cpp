// kube-sim: an imitation of kube-apiserver for tests and the demo. See README.md.
#include <cstdio>
#include <cstdlib>

#include <CLI/CLI.hpp>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "kube_sim.hpp"

namespace {

std::string Kubeconfig(const std::string& server, const kubesim::TlsMaterial* tls,
                       const std::string& deployd_token, const std::string& admin_token) {
  std::string out =
      "apiVersion: v1\nkind: Config\ncurrent-context: deployd\nclusters:\n- name: kube-sim\n  "
      "cluster:\n    server: " +
      server + "\n";
  if (tls != nullptr)
    out += "    certificate-authority-data: " + kubesim::Base64(tls->ca_cert_pem) + "\n";
  out += "users:\n- name: deployd\n  user:\n    token: " + deployd_token + "\n";
  out += "- name: admin\n  user:\n    token: " + admin_token + "\n";
  out += "contexts:\n- name: deployd\n  context:\n    cluster: kube-sim\n    user: deployd\n";
  out += "- name: admin\n  context:\n    cluster: kube-sim\n    user: admin\n";
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kube-sim: an imitation of kube-apiserver for tests and the demo"};
  std::string listen = "127.0.0.1:0";
  std::string kubeconfig_out;
  bool plain_http = false;
  std::vector<std::string> teams;
  double time_scale = 1.0;
  std::size_t history_limit = 10000;
  double bookmark_interval = 1.0;
  std::string log_level = "info";
  bool manual_clock = false;
  app.add_option("--listen", listen, "host:port to listen on (port 0 picks a free port)");
  app.add_option("--kubeconfig-out", kubeconfig_out,
                 "write a kubeconfig here once listening (atomically)");
  app.add_flag("--plain-http", plain_http, "serve plain HTTP instead of HTTPS");
  app.add_option("--team", teams,
                 "team namespace with serviceuser-<team> (repeatable; default aura)");
  app.add_option("--time-scale", time_scale,
                 "multiplier for simulated controller delays (0.01 = 100x faster)");
  app.add_option("--history-limit", history_limit,
                 "watch events kept for resuming (older RVs get 410)");
  app.add_option("--bookmark-interval", bookmark_interval,
                 "seconds between watch BOOKMARKs (0 = never)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error");
  app.add_flag("--manual-clock", manual_clock,
               "controllers only move on when POST /_sim/clock advances the clock");
  CLI11_PARSE(app, argc, argv);

  auto logger = spdlog::stderr_color_mt("kube-sim");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  try {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos) throw std::runtime_error("--listen must be host:port");
    std::string host = listen.substr(0, colon);
    int port = std::stoi(listen.substr(colon + 1));

    kubesim::Options options;
    if (!teams.empty()) options.teams = teams;
    options.time_scale = time_scale;
    options.history_limit = history_limit;
    options.bookmark_interval_seconds = bookmark_interval;
    options.manual_clock = manual_clock;
    std::unique_ptr<kubesim::TlsMaterial> tls;
    if (!plain_http) tls = std::make_unique<kubesim::TlsMaterial>(kubesim::GenerateTlsMaterial());
    if (tls) options.ca_pem = tls->ca_cert_pem;
    kubesim::Api api(options);
    std::string deployd_token = kubesim::RandomToken(24);
    std::string admin_token = kubesim::RandomToken(24);
    api.AddToken(deployd_token, {"system:serviceaccount:nais-system:deployd",
                                 {"system:serviceaccounts", "system:serviceaccounts:nais-system",
                                  "system:authenticated"},
                                 kubesim::NewUid(),
                                 {}});
    api.AddToken(admin_token, {"system:admin", {"system:masters", "system:authenticated"}, "", {}});

    kubesim::Handler handler = [&api](kubesim::HttpRequest& req) { return api.Handle(req); };
    kubesim::HttpServer server(host, port, tls.get(), handler);
    server.Start();
    api.SetServerAddress(host, server.Port());
    api.StartControllers();
    std::string url = std::string(plain_http ? "http://" : "https://") +
                      (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                      std::to_string(server.Port());
    if (!kubeconfig_out.empty()) {
      kubesim::WriteFileAtomically(kubeconfig_out,
                                   Kubeconfig(url, tls.get(), deployd_token, admin_token));
    }
    spdlog::info("kube-sim listening on {} (teams: {})", url, fmt::join(options.teams, ","));

    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("received signal {}, exiting", sig);
    spdlog::default_logger()->flush();
    std::fflush(stderr);
    std::_Exit(0);
  } catch (const std::exception& e) {
    spdlog::error("kube-sim: {}", e.what());
    return 1;
  }
}
