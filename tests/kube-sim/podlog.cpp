// pods/log: the simulated output of a pod's container, with the kubelet's answers for containers
// that have none yet. The text is the pod annotation `test.deployd.io/log` (copied from the pod
// template, so a Deployment or Job can set it; `test.deployd.io/previous-log`, when set, is the
// text of the instance before the last restart, `previous=true`) or, without one, a start line
// per container plus, for a container that exited, its exit line. Query: container, previous,
// tailLines, timestamps, limitBytes (follow ends after the text: kube-sim's containers write
// nothing later).
#include <algorithm>
#include <sstream>

#include "internal.hpp"

namespace kubesim {
namespace {

constexpr const char* kLogAnnotation = "test.deployd.io/log";
constexpr const char* kPreviousLogAnnotation = "test.deployd.io/previous-log";

std::string NameList(const std::vector<std::string>& names) {
  std::string out = "[";
  for (std::size_t i = 0; i < names.size(); ++i) out += (i ? " " : "") + names[i];
  return out + "]";
}

std::vector<std::string> Names(const Json& spec, const char* list) {
  std::vector<std::string> out;
  for (const auto& c : spec.value(list, Json::array())) out.push_back(c.value("name", ""));
  return out;
}

const Json* Find(const Json& list, const std::string& name) {
  if (!list.is_array()) return nullptr;
  for (const auto& c : list) {
    if (c.value("name", "") == name) return &c;
  }
  return nullptr;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) out.push_back(line);
  return out;
}

}  // namespace

HttpResponse PodLog(const Json& pod, const HttpRequest& req) {
  const Json& meta = pod["metadata"];
  const std::string pod_name = meta.value("name", "");
  const Json spec = pod.value("spec", Json::object());
  const Json status = pod.value("status", Json::object());
  auto containers = Names(spec, "containers");
  auto init = Names(spec, "initContainers");
  std::string name = req.Query("container");
  if (name.empty()) {
    const Json annotations = meta.value("annotations", Json::object());
    if (containers.size() == 1) {
      name = containers[0];
    } else if (annotations.contains("kubectl.kubernetes.io/default-container")) {
      name = annotations["kubectl.kubernetes.io/default-container"].get<std::string>();
    } else {
      std::string msg = "a container name must be specified for pod " + pod_name +
                        ", choose one of: " + NameList(containers);
      if (!init.empty()) msg += " or one of the init containers: " + NameList(init);
      throw BadRequestError(msg);
    }
  }
  const Json regular = spec.value("containers", Json::array());
  const Json init_specs = spec.value("initContainers", Json::array());
  const Json* container = Find(regular, name);
  bool is_init = false;
  if (container == nullptr) {
    container = Find(init_specs, name);
    is_init = container != nullptr;
  }
  if (container == nullptr)
    throw BadRequestError("container " + name + " is not valid for pod " + pod_name);
  if (spec.value("nodeName", "").empty())
    throw BadRequestError("pod " + pod_name + " does not have a host assigned");

  const Json statuses =
      status.value(is_init ? "initContainerStatuses" : "containerStatuses", Json::array());
  const Json* cs = Find(statuses, name);
  const Json state = cs != nullptr ? cs->value("state", Json::object()) : Json::object();
  const Json last = cs != nullptr ? cs->value("lastState", Json::object()) : Json::object();
  const std::string prefix = "container " + Quote(name) + " in pod " + Quote(pod_name);
  bool previous = req.Query("previous") == "true";
  if (previous) {
    if (!last.contains("terminated"))
      throw BadRequestError("previous terminated " + prefix + " not found");
  } else if (!state.contains("running") && !state.contains("terminated") &&
             !last.contains("terminated")) {
    if (state.contains("waiting")) {
      std::string reason = state["waiting"].value("reason", "");
      if (reason == "ErrImagePull") reason = "image can't be pulled";
      if (reason == "ImagePullBackOff") reason = "trying and failing to pull image";
      throw BadRequestError(prefix + " is waiting to start: " + reason);
    }
    throw BadRequestError(prefix + " is waiting to start - no logs yet");
  }

  // The text: the annotation, or what kube-sim's containers print.
  std::vector<std::string> lines;
  const Json annotations = meta.value("annotations", Json::object());
  if (previous && annotations.contains(kPreviousLogAnnotation) &&
      annotations[kPreviousLogAnnotation].is_string()) {
    lines = Lines(annotations[kPreviousLogAnnotation].get<std::string>());
  } else if (annotations.contains(kLogAnnotation) && annotations[kLogAnnotation].is_string()) {
    lines = Lines(annotations[kLogAnnotation].get<std::string>());
  } else {
    lines.push_back("kube-sim: container " + name + " started (image " +
                    container->value("image", "") + ")");
    const Json ended = previous || !state.contains("terminated") ? last.value("terminated", Json())
                                                                 : state["terminated"];
    if (ended.is_object()) {
      int code = ended.value("exitCode", 0);
      lines.push_back(code == 0
                          ? "kube-sim: container " + name + " completed"
                          : "kube-sim: container " + name + " exited with code " +
                                std::to_string(code) + " (" + ended.value("reason", "Error") + ")");
    }
  }
  if (req.HasQuery("tailLines")) {
    std::size_t tail = static_cast<std::size_t>(std::max(0LL, std::stoll(req.Query("tailLines"))));
    if (lines.size() > tail)
      lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(tail));
  }
  std::string body;
  std::string started = status.value("startTime", meta.value("creationTimestamp", ""));
  for (const auto& line : lines) {
    if (req.Query("timestamps") == "true" && started.size() >= 19) {
      body += started.substr(0, 19) + ".000000000Z ";
    }
    body += line + "\n";
  }
  if (req.HasQuery("limitBytes")) {
    std::size_t limit =
        static_cast<std::size_t>(std::max(0LL, std::stoll(req.Query("limitBytes"))));
    if (body.size() > limit) body.resize(limit);
  }
  HttpResponse r;
  r.SetHeader("Content-Type", "text/plain");
  r.body = body;
  return r;
}

}  // namespace kubesim
