"""Label and field selectors parse like apimachinery's and match the right objects."""
import pytest

from labserver.apiserver.errors import APIError
from labserver.apiserver.resources import lookup
from labserver.apiserver.selectors import parse_field_selector, parse_label_selector

PODS = lookup("", "v1", "pods")
EVENTS = lookup("", "v1", "events")
NODES = lookup("", "v1", "nodes")
LABELS = {"app": "web", "tier": "front", "canary": "", "replicas": "3"}


@pytest.mark.parametrize("selector, expected", [
    ("", True),
    ("app=web", True),
    ("app==web", True),
    ("app=db", False),
    ("app!=db", True),
    ("missing!=x", True),
    ("app!=web", False),
    ("tier in (front,back)", True),
    ("tier in (back)", False),
    ("missing in (x)", False),
    ("tier notin (back)", True),
    ("missing notin (x)", True),
    ("tier notin (front, back)", False),
    ("app", True),
    ("missing", False),
    ("!missing", True),
    ("!app", False),
    ("canary=", True),
    ("app=web,tier=front", True),
    ("app=web, tier=back", False),
    (" app = web ,  !missing ", True),
    ("replicas>2", True),
    ("replicas<3", False),
    ("replicas>-1,replicas<4", True),
    ("app>1", False),
    ("missing<9", False),
])
def test_label_selector_matches(selector, expected):
    """Each label selector operator matches the labels it should and no others."""
    assert parse_label_selector(selector)(LABELS) is expected


def test_label_selector_treats_missing_labels_as_empty():
    """An object without labels matches only selectors that require absence."""
    assert parse_label_selector("!app")(None) is True
    assert parse_label_selector("app")(None) is False


@pytest.mark.parametrize("selector", ["=web", "app in ()", "app in (a", "app=web,", "a b", "app=we b",
                                      "app in x", "!", "bad key!=x/", "app=" + "x" * 64, "replicas>x", "replicas<"])
def test_label_selector_bad_syntax_is_400(selector):
    """Malformed label selectors are 400 BadRequest, never a crash."""
    with pytest.raises(APIError) as err:
        parse_label_selector(selector)
    assert (err.value.code, err.value.reason) == (400, "BadRequest")


POD = {"metadata": {"name": "nginx", "namespace": "default"},
       "spec": {"nodeName": "node-1", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                "serviceAccountName": "default"},
       "status": {"phase": "Running", "podIP": "10.0.0.5"}}


@pytest.mark.parametrize("selector, expected", [
    ("metadata.name=nginx", True),
    ("metadata.name==nginx", True),
    ("metadata.name!=nginx", False),
    ("metadata.namespace=default,spec.nodeName=node-1", True),
    ("spec.nodeName=node-2", False),
    ("spec.nodeName=", False),
    ("spec.restartPolicy=Always,spec.schedulerName=default-scheduler", True),
    ("spec.serviceAccountName=default", True),
    ("status.phase!=Failed,status.phase!=Succeeded", True),
    ("status.podIP=10.0.0.5", True),
    ("status.nominatedNodeName=", True),
])
def test_pod_field_selector(selector, expected):
    """Pod field selectors compare the right fields; a missing field equals the empty string."""
    assert parse_field_selector(selector, PODS)(POD) is expected


def test_unbound_pods_match_empty_node_name():
    """`spec.nodeName=` selects pods not yet bound (what a scheduler watches)."""
    assert parse_field_selector("spec.nodeName=", PODS)({"metadata": {"name": "x"}, "spec": {}})


def test_event_field_selector_as_kubectl_describe_sends_it():
    """The selector `kubectl describe pod` uses finds the pod's events only."""
    select = parse_field_selector("involvedObject.namespace=default,involvedObject.uid=u1,"
                                  "involvedObject.name=nginx", EVENTS)
    event = {"metadata": {"name": "nginx.1"}, "involvedObject": {"kind": "Pod", "namespace": "default",
                                                                 "name": "nginx", "uid": "u1"},
             "type": "Normal", "reason": "Started", "source": {"component": "kubelet"}}
    assert select(event)
    assert not select({**event, "involvedObject": {**event["involvedObject"], "uid": "u2"}})
    assert parse_field_selector("source=kubelet,type=Normal,reason=Started", EVENTS)(event)


def test_node_unschedulable_defaults_to_false():
    """spec.unschedulable compares as "false" when the field is absent."""
    select = parse_field_selector("spec.unschedulable=false", NODES)
    assert select({"metadata": {"name": "n"}, "spec": {}})
    assert not select({"metadata": {"name": "n"}, "spec": {"unschedulable": True}})


@pytest.mark.parametrize("resource, selector", [(PODS, "foo=bar"), (NODES, "spec.nodeName=x"),
                                                (EVENTS, "status.phase=Running")])
def test_unsupported_field_is_400_with_upstream_message(resource, selector):
    """A field the resource cannot be selected by is 400 `field label not supported`."""
    with pytest.raises(APIError) as err:
        parse_field_selector(selector, resource)
    assert err.value.code == 400 and err.value.reason == "BadRequest"
    assert err.value.message == f"field label not supported: {selector.split('=')[0]}"


@pytest.mark.parametrize("selector", ["metadata.name", "status.phase~Running"])
def test_field_selector_without_operator_is_400(selector):
    """A field selector term without =, == or != is 400."""
    with pytest.raises(APIError) as err:
        parse_field_selector(selector, PODS)
    assert err.value.code == 400
