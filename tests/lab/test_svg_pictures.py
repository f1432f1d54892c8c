"""The notebooks' SVG pictures: well-formed, deterministic, the highlight visible, and embedded in the HTML."""
import xml.etree.ElementTree as ET

import pytest
from IPython.core.interactiveshell import InteractiveShell

from labserver.lab import architecture
from labserver.lab.notebook.diagram import Message
from labserver.lab.notebook.svg import BOXES, sequence

SVG = "{http://www.w3.org/2000/svg}"


def box_rect(svg: str, key: str) -> dict:
    """The attributes of component `key`'s rectangle in an architecture picture."""
    group = ET.fromstring(svg).find(f"{SVG}g[@id='{key}']")
    return group.find(f"{SVG}rect").attrib


def test_architecture_is_well_formed_svg_with_every_component():
    """The picture parses as XML, is an <svg>, and has one group per component of the post."""
    root = ET.fromstring(architecture().svg)
    assert root.tag == f"{SVG}svg"
    assert [g.get("id") for g in root.iter(f"{SVG}g")] == list(BOXES)
    texts = {t.text for t in root.iter(f"{SVG}text")}
    assert {"API server", "etcd", "kubelet", "1  POST the pod", "3  watch event"} <= texts


def test_the_highlighted_component_and_only_it_changes():
    """highlight='etcd' changes etcd's box and no other box."""
    plain, lit = architecture().svg, architecture(highlight="etcd").svg
    assert plain != lit
    assert box_rect(lit, "etcd") != box_rect(plain, "etcd")
    for key in BOXES:
        if key != "etcd":
            assert box_rect(lit, key) == box_rect(plain, key), key


def test_highlight_takes_aliases_and_lists_and_refuses_unknown_names():
    """'kubectl' lights 'you'; a list lights several; a name not in the picture is a ValueError."""
    assert box_rect(architecture("kubectl").svg, "you") == box_rect(architecture("you").svg, "you")
    both = architecture(["etcd", "kubelet"]).svg
    assert box_rect(both, "kubelet") == box_rect(architecture("kubelet").svg, "kubelet")
    assert box_rect(both, "etcd") == box_rect(architecture("etcd").svg, "etcd")
    with pytest.raises(ValueError, match="unknown component 'scheduler'"):
        architecture("scheduler")


def test_pictures_are_deterministic_and_name_what_they_show():
    """The same call gives the same bytes (nbval compares them); the text form says what is lit."""
    assert architecture("etcd", caption="01").svg == architecture("etcd", caption="01").svg
    assert repr(architecture("etcd")).endswith("highlighted: etcd>")
    assert repr(architecture()).endswith("highlighted: nothing>")


def test_sequence_is_well_formed_with_one_arrow_per_message_and_escaped_labels():
    """Each message is a numbered arrow; labels with < & > stay valid XML; the text form lists the steps."""
    messages = [Message("you", "API server", "POST <pod> & wait"), Message("API server", "etcd", "txn"),
                Message("etcd", "API server", "revision 7")]
    picture = sequence(["you", "API server", "etcd"], messages, title="t", notes={2: "later"})
    root = ET.fromstring(picture.svg)
    arrows = [p for p in root.iter(f"{SVG}path") if p.get("marker-end")]
    assert len(arrows) == 3
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "1. POST <pod> & wait" in texts and "3. revision 7" in texts and "later" in texts
    assert repr(picture).splitlines()[1:] == ["1. you → API server: POST <pod> & wait",
                                              "2. API server → etcd: txn", "3. etcd → API server: revision 7"]
    # An arrow points from its sender to its receiver.
    first = arrows[0].get("d").replace("M", "").replace("L", "").split()
    assert int(first[0].split(",")[0]) < int(first[1].split(",")[0])
    back = arrows[2].get("d").replace("M", "").replace("L", "").split()
    assert int(back[0].split(",")[0]) > int(back[1].split(",")[0])


def test_jupyter_shows_the_svg_and_the_html_export_embeds_it():
    """IPython formats a picture as image/svg+xml (+ text/plain); nbconvert's HTML (make walkthrough) embeds it."""
    data, _ = InteractiveShell.instance().display_formatter.format(architecture("kubelet"))
    assert data["image/svg+xml"] == architecture("kubelet").svg
    assert data["text/plain"] == repr(architecture("kubelet"))
    import nbformat   # here: nbformat and nbconvert cost every xdist worker ~1 s to import
    from nbconvert import HTMLExporter
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("lab.architecture(highlight='kubelet')")
    cell.outputs = [nbformat.v4.new_output("execute_result", data=data, execution_count=1)]
    nb.cells = [cell]
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert 'data-mime-type="image/svg+xml"' in html and "data:image/svg+xml;base64," in html


def test_the_pod_flow_is_drawn_from_what_the_cluster_recorded(lab, process_runtime_ready):
    """Notebook 04's picture: the post's flow, its revisions those etcd holds for the pod's key."""
    lab.catch_up(upto=4)
    flow = lab.pod_flow("nginx")
    ET.fromstring(flow.svg)
    client = lab.etcd_client()
    try:
        _, meta = client.get("/registry/pods/default/nginx")
    finally:
        client.close()
    steps = [line.split(". ", 1)[1] for line in repr(flow).splitlines()[1:]]
    assert steps[0].startswith("you → API server: POST pods")
    assert steps[2] == f"etcd → API server: ok: revision {meta.create_revision}"
    assert steps[5] == f"API server → kubelet: watch event: ADDED nginx, revision {meta.create_revision}"
    assert steps[6:8] == ["kubelet → runtime: create + start container nginx",
                          "kubelet → runtime: create + start container log-truncator"]
    assert steps[8] == "kubelet → API server: PATCH pods/nginx/status: Running, 2/2 ready"
    assert steps[9] == f"API server → etcd: txn: update, revision {meta.mod_revision}"
