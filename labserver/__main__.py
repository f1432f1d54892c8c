"""`python -m labserver <component> [flags]`: one entry point for every part of the lab.

Each component module has a `main(argv) -> int`; flags follow the post's names
(`--etcd-servers`, `--api-servers`, ...).
"""
import importlib
import sys

COMPONENTS = {
    "etcd": ("labserver.lab.supervise.etcd", "run the real etcd in the foreground"),
    "apiserver": ("labserver.apiserver.server", "run the API server (plain HTTP, like kube-apiserver 1.0)"),
    "kubelet": ("labserver.kubelet.server", "run the kubelet: register a node and run its pods"),
    "controller-manager": ("labserver.controllers.manager", "run the controllers (namespace deletion)"),
    "scheduler": ("labserver.scheduler.server", "run the scheduler: bind each pod with no node to one"),
    "docker": ("labserver.lab.machine.docker_engine", "up|down|status of the lab's private Docker engine"),
    "images": ("labserver.lab.machine.images", "make sure the nginx, busybox and etcd images exist"),
    "teardown": ("labserver.lab.supervise.teardown", "stop everything the lab started, and only that"),
    "preflight": ("labserver.lab.machine.preflight", "check what the lab needs on this machine"),
}


def usage() -> str:
    lines = ["usage: python -m labserver <component> [flags]", "", "components:"]
    lines += [f"  {name:<19} {help_}" for name, (_, help_) in COMPONENTS.items()]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMPONENTS:
        print(f"labserver: unknown component {name!r} (one of: {', '.join(COMPONENTS)})", file=sys.stderr)
        return 2
    module = importlib.import_module(COMPONENTS[name][0])
    return module.main(rest) or 0


if __name__ == "__main__":
    sys.exit(main())
