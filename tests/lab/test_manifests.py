"""The post's pod, as every test, benchmark and notebook builds it."""
from labserver.lab.notebook.manifests import post_pod


def test_post_pod_is_the_posts_manifest():
    """Two containers (nginx on port 80, the busybox log truncator) share the nginx-logs emptyDir."""
    pod = post_pod("nginx-the-second", node="awesome-node")
    spec = pod["spec"]
    assert pod["metadata"]["name"] == "nginx-the-second" and spec["nodeName"] == "awesome-node"
    nginx, truncator = spec["containers"]
    assert (nginx["image"], nginx["ports"], nginx["volumeMounts"]) == (
        "nginx", [{"containerPort": 80}], [{"mountPath": "/var/log/nginx", "name": "nginx-logs"}])
    assert truncator["image"] == "busybox" and truncator["command"] == ["/bin/sh"]
    assert truncator["args"] == ["-c", "while true; do cat /dev/null > /logdir/access.log; sleep 10; done"]
    assert spec["volumes"] == [{"name": "nginx-logs", "emptyDir": {}}]


def test_each_call_returns_a_fresh_copy():
    """Changing one pod never changes the next one."""
    first = post_pod()
    first["spec"]["containers"].clear()
    assert len(post_pod()["spec"]["containers"]) == 2 and "nodeName" not in post_pod()["spec"]
