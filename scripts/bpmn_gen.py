#!/usr/bin/env python3
"""Generate the example workflow models in examples/workflows/*/process.bpmn.

Each process is described compactly below (pools with lanes, flow nodes,
sequence flows, message flows, typed data objects, Camunda form fields) and
written as BPMN 2.0 XML the way Camunda Modeler 5 (or, for one example,
Signavio) saves it, including a complete diagram interchange section with a
simple automatic left-to-right layout: the column of a node is its longest
path rank from the start (sequence and message flows count, loop-back edges
do not), its row is its lane; pools are stacked vertically.

    python3 scripts/bpmn_gen.py            # (re)write every example
    python3 scripts/bpmn_gen.py NAME ...   # only these

Python 3 standard library only. bindings.json and scenario.json beside each
process.bpmn are written by hand.
"""

import os
import sys
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "workflows")

XSD = {"integer": "xsd:integer", "decimal": "xsd:decimal", "string": "xsd:string", "boolean": "xsd:boolean"}

# kind -> (BPMN element, event definition)
KINDS = {
    "start": ("startEvent", None),
    "start_msg": ("startEvent", "message"),
    "start_timer": ("startEvent", "timer"),
    "end": ("endEvent", None),
    "end_msg": ("endEvent", "message"),
    "end_term": ("endEvent", "terminate"),
    "catch_msg": ("intermediateCatchEvent", "message"),
    "catch_timer": ("intermediateCatchEvent", "timer"),
    "throw": ("intermediateThrowEvent", None),
    "throw_msg": ("intermediateThrowEvent", "message"),
    "user": ("userTask", None),
    "manual": ("manualTask", None),
    "task": ("task", None),
    "service": ("serviceTask", None),
    "send": ("sendTask", None),
    "receive": ("receiveTask", None),
    "xor": ("exclusiveGateway", None),
    "and": ("parallelGateway", None),
    "or": ("inclusiveGateway", None),
    "event": ("eventBasedGateway", None),
    "sub": ("subProcess", None),
    "boundary_timer": ("boundaryEvent", "timer"),
}
TASKS = {"user", "manual", "task", "service", "send", "receive"}
GATEWAYS = {"xor", "and", "or", "event"}

GAP = 50          # horizontal gap between columns
POOL_X = 160      # left edge of every pool
POOL_GAP = 60     # vertical gap between pools (message flows run here)
DATA_BAND = 80    # extra lane height below the nodes for data object references


def node(id, kind, name, lane=None, **kw):
    """A flow node. kw: form=[(id, label, type)], out=[data object names],
    default=flow id, timer=(timeDuration|timeDate, value), row=sub-row hint,
    nodes/flows (subProcess contents), topic (service task), attach=the
    activity a boundary event sits on, cancel=False for a non-interrupting
    one."""
    d = dict(id=id, kind=kind, name=name, lane=lane)
    d.update(kw)
    return d


def flow(id, src, tgt, name=None, cond=None):
    return dict(id=id, src=src, tgt=tgt, name=name, cond=cond)


def attr(s):
    return escape(str(s), {'"': "&quot;"})


# ---------------------------------------------------------------- layout

def size(n):
    k = n["kind"]
    if k == "sub":
        return n["_w"], n["_h"]
    if k in TASKS:
        return 100, 80
    if k in GATEWAYS:
        return 50, 50
    return 36, 36


def ranks(ids, edges):
    """Longest-path rank of every id; edges closing a cycle (found by a
    depth-first search from the nodes without incoming edges) are ignored."""
    succ = {i: [] for i in ids}
    has_in = set()
    for a, b in edges:
        succ[a].append(b)
        has_in.add(b)
    state, back = {}, set()

    def dfs(u):
        state[u] = 1
        for v in succ[u]:
            if state.get(v) == 1:
                back.add((u, v))
            elif v not in state:
                dfs(v)
        state[u] = 2

    for i in [i for i in ids if i not in has_in] + list(ids):
        if i not in state:
            dfs(i)
    indeg = {i: 0 for i in ids}
    adj = {i: [] for i in ids}
    for a, b in edges:
        if (a, b) not in back:
            adj[a].append(b)
            indeg[b] += 1
    rank = {i: 0 for i in ids}
    queue = [i for i in ids if indeg[i] == 0]
    while queue:
        u = queue.pop(0)
        for v in adj[u]:
            rank[v] = max(rank[v], rank[u] + 1)
            indeg[v] -= 1
            if indeg[v] == 0:
                queue.append(v)
    return rank


def columns(nodes, rank, x0, gap):
    ncols = max(rank[n["id"]] for n in nodes) + 1
    colw = [0] * ncols
    for n in nodes:
        r = rank[n["id"]]
        colw[r] = max(colw[r], size(n)[0])
    colx, x = [], x0
    for w in colw:
        colx.append(x)
        x += w + gap
    return colw, colx, x - gap


def sub_rows(nodes, rank):
    """Nodes of one lane that share a column are stacked in sub-rows."""
    cells = {}
    for n in sorted(nodes, key=lambda n: 0 if "row" in n else 1):
        used = cells.setdefault(rank[n["id"]], set())
        row = n.get("row")
        if row is None or row in used:
            row = 0
            while row in used:
                row += 1
        used.add(row)
        n["_row"] = row
    return max([n["_row"] for n in nodes] + [0]) + 1


def is_boundary(n):
    return n["kind"].startswith("boundary")


def ranked_edges(nodes, flows):
    """Sequence flows for ranking: a boundary event's flow leaves its host."""
    host = {n["id"]: n["attach"] for n in nodes if is_boundary(n)}
    return [(host.get(f["src"], f["src"]), f["tgt"]) for f in flows]


def place_boundaries(nodes):
    """Boundary events sit on the lower edge of their host, from the right."""
    byid = {n["id"]: n for n in nodes}
    seen = {}
    for n in nodes:
        if is_boundary(n):
            hx, hy, hw, hh = byid[n["attach"]]["_b"]
            k = seen.get(n["attach"], 0)
            seen[n["attach"]] = k + 1
            n["_b"] = (hx + hw - 46 - 40 * k, hy + hh - 18, 36, 36)
            n["_gaps"] = byid[n["attach"]].get("_gaps")


def layout_sub(sp):
    inner = [n for n in sp["nodes"] if not is_boundary(n)]
    for n in inner:
        if n["kind"] == "sub":
            layout_sub(n)
    rank = ranks([n["id"] for n in inner], ranked_edges(sp["nodes"], sp["flows"]))
    colw, colx, right = columns(inner, rank, 40, 40)
    nrows = sub_rows(inner, rank)
    rowh = [100] * nrows
    for n in inner:
        rowh[n["_row"]] = max(rowh[n["_row"]], size(n)[1] + 20)
    sp["_w"], sp["_h"] = right + 40, sum(rowh) + 40
    sp["_inner"] = []
    for n in inner:
        w, h = size(n)
        r = rank[n["id"]]
        cx = colx[r] + colw[r] // 2
        cy = 20 + sum(rowh[: n["_row"]]) + rowh[n["_row"]] // 2
        sp["_inner"].append((n, cx - w // 2, cy - h // 2))


def place_inner(sp):
    x, y = sp["_b"][0], sp["_b"][1]
    for n, dx, dy in sp["_inner"]:
        w, h = size(n)
        n["_b"] = (x + dx, y + dy, w, h)
        if n["kind"] == "sub":
            place_inner(n)
    place_boundaries(sp["nodes"])


def layout(proc):
    pools = proc["pools"]
    for p in pools:
        for n in p["nodes"]:
            if n["kind"] == "sub":
                layout_sub(n)
    nodes = [n for p in pools for n in p["nodes"] if not is_boundary(n)]
    ids = {n["id"] for n in nodes}
    edges = [e for p in pools for e in ranked_edges(p["nodes"], p["flows"])]
    edges += [(m[2], m[3]) for m in proc["messages"] if m[2] in ids and m[3] in ids]
    rank = ranks([n["id"] for n in nodes], edges)
    any_lanes = any(p.get("lanes") for p in pools)
    x0 = POOL_X + 30 + (30 if any_lanes else 0) + 40
    colw, colx, right = columns(nodes, rank, x0, GAP)
    pool_w = right + 40 - POOL_X
    y = 80
    for p in pools:
        p["_b"] = None
        top = y
        lanes = p.get("lanes") or [(None, None)]
        p["_lanes"] = []
        # data object reference placement: below the first node writing it
        writers = {}
        for n in p["nodes"]:
            for v in n.get("out", []):
                writers.setdefault(v, n)
        for lane_id, _ in lanes:
            ln = [n for n in p["nodes"]
                  if (lane_id is None or n["lane"] == lane_id) and not is_boundary(n)]
            nrows = sub_rows(ln, rank)
            rowh = [120] * nrows
            for n in ln:
                rowh[n["_row"]] = max(rowh[n["_row"]], size(n)[1] + 40)
            lane_data = [(v, n) for v, n in writers.items() if n in ln]
            lane_h = sum(rowh) + (DATA_BAND if lane_data else 0)
            for n in ln:
                w, h = size(n)
                r = rank[n["id"]]
                cx = colx[r] + colw[r] // 2
                cy = y + sum(rowh[: n["_row"]]) + rowh[n["_row"]] // 2
                n["_b"] = (cx - w // 2, cy - h // 2, w, h)
                # free vertical corridors left and right of the node's column
                n["_gaps"] = (colx[r] - GAP // 2, colx[r] + colw[r] + GAP // 2)
                if n["kind"] == "sub":
                    place_inner(n)
            per_writer = {}
            for v, n in lane_data:
                k = per_writer.get(n["id"], 0)
                per_writer[n["id"]] = k + 1
                b = n["_b"]
                # right of the writer's centre, clear of message flows leaving it
                p.setdefault("_data", {})[v] = (b[0] + b[2] // 2 + 14 + 50 * k, y + sum(rowh) + 15, 36, 50)
            if lane_id is not None:
                p["_lanes"].append((lane_id, (POOL_X + 30, y, pool_w - 30, lane_h)))
            y += lane_h
        place_boundaries(p["nodes"])
        p["_b"] = (POOL_X, top, pool_w, y - top)
        y += POOL_GAP


def seq_waypoints(s, t, s_gw, t_gw, s_boundary=False):
    sx, sy, sw, sh = s
    tx, ty, tw, th = t
    scx, scy, tcx, tcy = sx + sw // 2, sy + sh // 2, tx + tw // 2, ty + th // 2
    if s_boundary and tcy > sy + sh:  # down from the host's edge, then across
        if tx >= scx:
            return [(scx, sy + sh), (scx, tcy), (tx, tcy)]
        return [(scx, sy + sh), (scx, ty - 10), (tcx, ty - 10), (tcx, ty)]
    if tx >= sx + sw:  # forward
        if scy == tcy:
            return [(sx + sw, scy), (tx, tcy)]
        if s_gw:
            return [(scx, sy if tcy < scy else sy + sh), (scx, tcy), (tx, tcy)]
        if t_gw:
            return [(sx + sw, scy), (tcx, scy), (tcx, ty + th if scy > tcy else ty)]
        mx = (sx + sw + tx) // 2
        return [(sx + sw, scy), (mx, scy), (mx, tcy), (tx, tcy)]
    # backward (loop): run below both shapes
    yb = max(sy + sh, ty + th) + 20
    return [(scx, sy + sh), (scx, yb), (tcx, yb), (tcx, ty + th)]


# ---------------------------------------------------------------- XML

class Writer:
    def __init__(self, proc):
        self.proc = proc
        self.sig = proc.get("style") == "signavio"
        self.P = "" if self.sig else "bpmn:"
        self.lines = []
        self.assoc = 0

    def w(self, ind, s):
        self.lines.append("  " * ind + s)

    def open(self, ind, tag, attrs, close=False):
        a = "".join(f' {k}="{attr(v)}"' for k, v in attrs if v is not None)
        self.w(ind, f"<{self.P}{tag}{a}{' /' if close else ''}>")

    def end(self, ind, tag):
        self.w(ind, f"</{self.P}{tag}>")

    def header(self):
        pr = self.proc
        self.w(0, '<?xml version="1.0" encoding="UTF-8"?>')
        common = ('xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
                  'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
                  'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" ')
        if self.sig:
            self.w(0, '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" ' + common +
                   'xmlns:signavio="http://www.signavio.com" '
                   'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                   'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
                   f'id="{pr["defs"]}" targetNamespace="http://www.signavio.com" '
                   'expressionLanguage="http://www.w3.org/TR/XPath" '
                   'typeLanguage="http://www.w3.org/2001/XMLSchema" '
                   'exporter="Signavio Process Editor" exporterVersion="17.6.0">')
        else:
            self.w(0, '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" ' + common +
                   'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
                   'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                   'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
                   f'id="{pr["defs"]}" targetNamespace="http://bpmn.io/schema/bpmn" '
                   'exporter="Camunda Modeler" exporterVersion="5.17.0">')

    def flows_of(self, scope_flows):
        inc, out = {}, {}
        for f in scope_flows:
            out.setdefault(f["src"], []).append(f["id"])
            inc.setdefault(f["tgt"], []).append(f["id"])
        return inc, out

    def node(self, ind, n, inc, out, msg_out):
        tag, evdef = KINDS[n["kind"]]
        attrs = [("id", n["id"]), ("name", n["name"])]
        if n["kind"] == "service" and not self.sig:
            attrs += [("camunda:type", "external"), ("camunda:topic", n.get("topic", n["id"]))]
        if n.get("default"):
            attrs.append(("default", n["default"]))
        if is_boundary(n):
            if n.get("cancel") is False:
                attrs.append(("cancelActivity", "false"))
            attrs.append(("attachedToRef", n["attach"]))
        body = []
        has_body = (n.get("form") or inc.get(n["id"]) or out.get(n["id"]) or n.get("out")
                    or evdef or n["kind"] == "sub")
        if not has_body:
            self.open(ind, tag, attrs, close=True)
            return
        self.open(ind, tag, attrs)
        i = ind + 1
        if n.get("form"):
            if self.sig:
                raise SystemExit(f"{n['id']}: no Camunda form fields in a Signavio file")
            self.w(i, f"<{self.P}extensionElements>")
            self.w(i + 1, "<camunda:formData>")
            for fid, label, typ in n["form"]:
                self.w(i + 2, f'<camunda:formField id="{attr(fid)}" label="{attr(label)}" type="{typ}" />')
            self.w(i + 1, "</camunda:formData>")
            self.w(i, f"</{self.P}extensionElements>")
        for fid in inc.get(n["id"], []):
            self.w(i, f"<{self.P}incoming>{fid}</{self.P}incoming>")
        for fid in out.get(n["id"], []):
            self.w(i, f"<{self.P}outgoing>{fid}</{self.P}outgoing>")
        if n["kind"] == "sub":
            self.scope(i, n["nodes"], n["flows"])
        n["_assoc"] = []
        for v in n.get("out", []):
            self.assoc += 1
            aid = f"DataOutputAssociation_{self.assoc}"
            n["_assoc"].append((aid, v))
            self.w(i, f'<{self.P}dataOutputAssociation id="{aid}">')
            self.w(i + 1, f"<{self.P}targetRef>DataObjectReference_{v}</{self.P}targetRef>")
            self.w(i, f"</{self.P}dataOutputAssociation>")
        suffix = n["id"].split("_", 1)[-1]
        if evdef == "message":
            self.w(i, f'<{self.P}messageEventDefinition id="MessageEventDefinition_{suffix}" />')
        elif evdef == "terminate":
            self.w(i, f'<{self.P}terminateEventDefinition id="TerminateEventDefinition_{suffix}" />')
        elif evdef == "timer":
            kind, value = n["timer"]
            xt = "tFormalExpression" if self.sig else "bpmn:tFormalExpression"
            self.w(i, f'<{self.P}timerEventDefinition id="TimerEventDefinition_{suffix}">')
            self.w(i + 1, f'<{self.P}{kind} xsi:type="{xt}">{escape(value)}</{self.P}{kind}>')
            self.w(i, f"</{self.P}timerEventDefinition>")
        self.end(ind, tag)

    def scope(self, ind, nodes, flows):
        inc, out = self.flows_of(flows)
        for n in nodes:
            self.node(ind, n, inc, out, None)
        xt = "tFormalExpression" if self.sig else "bpmn:tFormalExpression"
        for f in flows:
            attrs = [("id", f["id"]), ("name", f["name"]), ("sourceRef", f["src"]), ("targetRef", f["tgt"])]
            if f["cond"] is None:
                self.open(ind, "sequenceFlow", attrs, close=True)
            else:
                self.open(ind, "sequenceFlow", attrs)
                self.w(ind + 1, f'<{self.P}conditionExpression xsi:type="{xt}">{escape(f["cond"])}</{self.P}conditionExpression>')
                self.end(ind, "sequenceFlow")

    def process(self, p):
        self.open(1, "process", [("id", p["process"]), ("name", p.get("pname", p["name"])), ("isExecutable", "true")])
        if p.get("lanes"):
            self.w(2, f'<{self.P}laneSet id="LaneSet_{p["process"].split("_", 1)[-1]}">')
            for lane_id, lane_name in p["lanes"]:
                self.open(3, "lane", [("id", lane_id), ("name", lane_name)])
                for n in p["nodes"]:
                    if n["lane"] == lane_id:
                        self.w(4, f"<{self.P}flowNodeRef>{n['id']}</{self.P}flowNodeRef>")
                        for m in all_inner(n):
                            self.w(4, f"<{self.P}flowNodeRef>{m['id']}</{self.P}flowNodeRef>")
                self.end(3, "lane")
            self.w(2, f"</{self.P}laneSet>")
        self.scope(2, p["nodes"], p["flows"])
        for v, typ in p.get("data", []):
            self.w(2, f'<{self.P}dataObjectReference id="DataObjectReference_{v}" name="{v}" dataObjectRef="DataObject_{v}" />')
            self.w(2, f'<{self.P}dataObject id="DataObject_{v}" name="{v}" itemSubjectRef="Item_{typ}" />')
        self.end(1, "process")

    # ---- diagram interchange
    def shape(self, el, b, extra="", label=None):
        x, y, w, h = b
        self.w(3, f'<bpmndi:BPMNShape id="{el}_di" bpmnElement="{el}"{extra}>')
        self.w(4, f'<dc:Bounds x="{x}" y="{y}" width="{w}" height="{h}" />')
        if label:
            self.w(4, "<bpmndi:BPMNLabel>")
            self.w(5, f'<dc:Bounds x="{label[0]}" y="{label[1]}" width="{label[2]}" height="{label[3]}" />')
            self.w(4, "</bpmndi:BPMNLabel>")
        self.w(3, "</bpmndi:BPMNShape>")

    def edge(self, el, pts):
        self.w(3, f'<bpmndi:BPMNEdge id="{el}_di" bpmnElement="{el}">')
        for x, y in pts:
            self.w(4, f'<di:waypoint x="{x}" y="{y}" />')
        self.w(3, "</bpmndi:BPMNEdge>")

    def node_shapes(self, nodes):
        for n in nodes:
            b = n["_b"]
            extra, label = "", None
            if n["kind"] == "sub":
                extra = ' isExpanded="true"'
            elif n["kind"] in GATEWAYS:
                extra = ' isMarkerVisible="true"' if n["kind"] == "xor" else ""
                label = (b[0] - 20, b[1] + b[3] + 5, b[2] + 40, 27) if n["name"] else None
            elif n["kind"] not in TASKS:
                label = (b[0] - 32, b[1] + b[3] + 5, b[2] + 64, 27) if n["name"] else None
            self.shape(n["id"], b, extra, label)
            if n["kind"] == "sub":
                self.node_shapes(n["nodes"])

    def flow_edges(self, nodes, flows):
        byid = {n["id"]: n for n in nodes}
        for f in flows:
            s, t = byid[f["src"]], byid[f["tgt"]]
            self.edge(f["id"], seq_waypoints(s["_b"], t["_b"], s["kind"] in GATEWAYS,
                                             t["kind"] in GATEWAYS, is_boundary(s)))
        for n in nodes:
            if n["kind"] == "sub":
                self.flow_edges(n["nodes"], n["flows"])

    def diagram(self):
        pr = self.proc
        self.w(1, '<bpmndi:BPMNDiagram id="BPMNDiagram_1">')
        self.w(2, f'<bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="{pr["collab"]}">')
        for p in pr["pools"]:
            self.shape(p["id"], p["_b"], ' isHorizontal="true"')
            for lane_id, b in p["_lanes"]:
                self.shape(lane_id, b, ' isHorizontal="true"')
            self.node_shapes(p["nodes"])
            for v, _ in p.get("data", []):
                b = p["_data"][v]
                self.shape(f"DataObjectReference_{v}", b, "", (b[0] - 22, b[1] + b[3] + 5, 80, 14))
        for p in pr["pools"]:
            self.flow_edges(p["nodes"], p["flows"])
        index = {n["id"]: (n, p) for p in pr["pools"] for n in p["nodes"]}
        boxes = [(n["id"], n["_b"]) for p in pr["pools"] for n in p["nodes"]]
        boxes += [(v, b) for p in pr["pools"] for v, b in p.get("_data", {}).items()]

        def blocked(x, y0, y1, skip):
            lo, hi = min(y0, y1), max(y0, y1)
            return any(b[0] <= x <= b[0] + b[2] and b[1] < hi and lo < b[1] + b[3]
                       for i, b in boxes if i not in skip)

        for k, (mid, _, src, tgt) in enumerate(pr["messages"]):
            (s, sp), (t, tp) = index[src], index[tgt]
            sb, tb = s["_b"], t["_b"]
            scx, tcx = sb[0] + sb[2] // 2, tb[0] + tb[2] // 2
            down = tb[1] > sb[1]
            # the horizontal run lies in the gap above the lower of the two pools
            my = (tp if down else sp)["_b"][1] - POOL_GAP // 2 + 8 * (k % 3) - 8
            s_edge = sb[1] + sb[3] if down else sb[1]
            t_edge = tb[1] if down else tb[1] + tb[3]
            step = 15 if down else -15
            skip = {src, tgt}
            if not blocked(scx, s_edge, my, skip):
                head = [(scx, s_edge), (scx, my)]
            else:  # leave towards the free corridor right of the source column
                gx = s["_gaps"][1]
                head = [(scx, s_edge), (scx, s_edge + step), (gx, s_edge + step), (gx, my)]
            if not blocked(tcx, my, t_edge, skip):
                tail = [(tcx, my), (tcx, t_edge)]
            else:  # come in along the free corridor left of the target column
                gx = t["_gaps"][0]
                tail = [(gx, my), (gx, t_edge - step), (tcx, t_edge - step), (tcx, t_edge)]
            pts = head + tail
            if scx == tcx and head[-1][0] == tail[0][0] == scx:
                pts = [pts[0], pts[-1]]
            self.edge(mid, pts)
        for p in pr["pools"]:
            for n in p["nodes"]:
                for aid, v in n.get("_assoc", []):
                    b, d = n["_b"], p["_data"][v]
                    dx = d[0] + d[2] // 2
                    sx = dx if b[0] < dx < b[0] + b[2] and n["kind"] in TASKS else b[0] + b[2] // 2
                    self.edge(aid, [(sx, b[1] + b[3]), (dx, d[1])])
        self.w(2, "</bpmndi:BPMNPlane>")
        self.w(1, "</bpmndi:BPMNDiagram>")

    def document(self):
        pr = self.proc
        self.header()
        types = sorted({t for p in pr["pools"] for _, t in p.get("data", [])})
        for t in types:
            self.open(1, "itemDefinition", [("id", f"Item_{t}"), ("structureRef", XSD[t])], close=True)
        self.open(1, "collaboration", [("id", pr["collab"])])
        for p in pr["pools"]:
            self.open(2, "participant", [("id", p["id"]), ("name", p["name"]), ("processRef", p["process"])], close=True)
        for mid, name, src, tgt in pr["messages"]:
            self.open(2, "messageFlow", [("id", mid), ("name", name), ("sourceRef", src), ("targetRef", tgt)], close=True)
        self.end(1, "collaboration")
        for p in pr["pools"]:
            self.process(p)
        self.diagram()
        self.end(0, "definitions")
        return "\n".join(self.lines) + "\n"


def all_inner(n):
    for m in n.get("nodes", []) if n["kind"] == "sub" else []:
        yield m
        yield from all_inner(m)


def check(proc):
    """Catch typos in the descriptions before a modeler or the importer does."""
    ids = set()

    def scope(nodes, flows):
        local = {n["id"]: n for n in nodes}
        for n in nodes:
            assert n["id"] not in ids, n["id"]
            ids.add(n["id"])
            if n["kind"] == "sub":
                scope(n["nodes"], n["flows"])
        for f in flows:
            assert f["id"] not in ids, f["id"]
            ids.add(f["id"])
            assert f["src"] in local and f["tgt"] in local, f["id"]
        for n in nodes:
            if is_boundary(n):
                assert n.get("attach") in local, n["id"]
                assert not any(f["tgt"] == n["id"] for f in flows), n["id"]
            if n.get("default"):
                assert any(f["id"] == n["default"] and f["src"] == n["id"] for f in flows), n["id"]
        return local

    names = [v for p in proc["pools"] for v, _ in p.get("data", [])]
    assert len(names) == len(set(names)), "data object names must be unique across pools"
    every = {}
    for p in proc["pools"]:
        lanes = {l for l, _ in p.get("lanes", [])}
        every.update(scope(p["nodes"], p["flows"]))
        data = {v for v, _ in p.get("data", [])}
        for n in p["nodes"]:
            assert (n["lane"] in lanes) if lanes else n["lane"] is None, n["id"]
            for v in n.get("out", []):
                assert v in data, (n["id"], v)
        written = {v for n in p["nodes"] for v in n.get("out", [])}
        assert data <= written, data - written
    for mid, _, src, tgt in proc["messages"]:
        assert src in every and tgt in every, mid


def check_layout(proc):
    """Every shape inside its lane (or pool); no two flow node shapes overlap."""
    def inside(b, c):
        return c[0] <= b[0] and c[1] <= b[1] and b[0] + b[2] <= c[0] + c[2] and b[1] + b[3] <= c[1] + c[3]

    boxes = []
    for p in proc["pools"]:
        lanes = dict(p["_lanes"])
        for n in p["nodes"]:
            box = lanes.get(n["lane"], p["_b"])
            assert inside(n["_b"], box), n["id"]
            if is_boundary(n):  # on its host's edge by design
                continue
            boxes.append((n["id"], n["_b"]))
            for m in all_inner(n):
                assert inside(m["_b"], n["_b"]), m["id"]
        for v, b in p.get("_data", {}).items():
            assert inside(b, p["_b"]), v
            boxes.append((v, b))
    for i, (a, b) in enumerate(boxes):
        for c, d in boxes[i + 1:]:
            apart = b[0] + b[2] <= d[0] or d[0] + d[2] <= b[0] or b[1] + b[3] <= d[1] or d[1] + d[3] <= b[1]
            assert apart, (a, c)


def generate(proc):
    check(proc)
    layout(proc)
    check_layout(proc)
    text = Writer(proc).document()
    ET.fromstring(text.encode())  # well-formed
    assert len(text.encode()) < 40 * 1024, (proc["name"], len(text.encode()))
    d = os.path.join(ROOT, proc["name"])
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "process.bpmn"), "w", encoding="utf-8") as f:
        f.write(text)
    print(f"{proc['name']}/process.bpmn: {len(text.encode())} bytes")


# ================================================================ processes

PROCESSES = []


# 1. logistics-relay: shipper's relay order carried by rail, then truck,
#    to a consignee who confirms receipt; 48 hours without the confirmation
#    and the shipper escalates (a non-interrupting boundary timer: the wait
#    for the confirmation goes on).
PROCESSES.append(dict(
    name="logistics-relay", defs="Definitions_logistics_relay", collab="Collaboration_logistics_relay",
    pools=[
        dict(id="Participant_shipper", name="Shipper", process="Process_relay", pname="Multimodal relay",
             lanes=[("Lane_shipper", "Shipper"), ("Lane_rail", "Rail carrier"), ("Lane_truck", "Truck carrier")],
             data=[("delivery_note_hash", "string")],
             nodes=[
                 node("Event_order_placed", "start", "Transport order placed", "Lane_shipper",
                      form=[("order_no", "Order number", "string")]),
                 node("Task_pickup_rail", "user", "Confirm pickup by rail", "Lane_rail",
                      form=[("wagon", "Wagon", "string")]),
                 node("Task_handover_rail", "user", "Hand over to truck", "Lane_rail",
                      form=[("handover_station", "Handover station", "string")]),
                 node("Task_pickup_truck", "user", "Confirm takeover by truck", "Lane_truck",
                      form=[("truck_plate", "Truck plate", "string")]),
                 node("Task_dispatch_consignee", "user", "Dispatch to consignee", "Lane_truck",
                      out=["delivery_note_hash"]),
                 node("Task_await_confirmation", "receive", "Await delivery confirmation", "Lane_shipper"),
                 node("Task_record_delivery", "service", "Record delivery note", "Lane_shipper",
                      topic="notary.record"),
                 node("Event_delivered", "end", "Goods delivered", "Lane_shipper"),
                 node("Event_48h", "boundary_timer", "48 hours elapsed", "Lane_shipper",
                      attach="Task_await_confirmation", cancel=False, timer=("timeDuration", "PT48H")),
                 node("Task_escalate", "user", "Escalate late delivery", "Lane_shipper",
                      form=[("escalation_note", "Escalation note", "string")], row=1),
                 node("Event_escalated", "end", "Delivery escalated", "Lane_shipper", row=1),
             ],
             flows=[
                 flow("Flow_order_pickup", "Event_order_placed", "Task_pickup_rail"),
                 flow("Flow_pickup_handover", "Task_pickup_rail", "Task_handover_rail"),
                 flow("Flow_handover_truck", "Task_handover_rail", "Task_pickup_truck"),
                 flow("Flow_truck_dispatch", "Task_pickup_truck", "Task_dispatch_consignee"),
                 flow("Flow_dispatch_wait", "Task_dispatch_consignee", "Task_await_confirmation"),
                 flow("Flow_confirmed_record", "Task_await_confirmation", "Task_record_delivery"),
                 flow("Flow_record_delivered", "Task_record_delivery", "Event_delivered"),
                 flow("Flow_timeout_escalate", "Event_48h", "Task_escalate"),
                 flow("Flow_escalate_end", "Task_escalate", "Event_escalated"),
             ]),
        dict(id="Participant_consignee", name="Consignee", process="Process_consignee", pname="Goods receipt",
             nodes=[
                 node("Event_arrival_notice", "start_msg", "Arrival notice received"),
                 node("Task_confirm_receipt", "user", "Confirm receipt of goods",
                      form=[("received_by", "Received by", "string")]),
                 node("Event_receipt_done", "end", "Receipt confirmed"),
             ],
             flows=[
                 flow("Flow_notice_confirm", "Event_arrival_notice", "Task_confirm_receipt"),
                 flow("Flow_confirm_done", "Task_confirm_receipt", "Event_receipt_done"),
             ]),
    ],
    messages=[
        ("Flow_msg_arrival", "Arrival notice", "Task_dispatch_consignee", "Event_arrival_notice"),
        ("Flow_msg_delivery_confirmed", "Delivery confirmation", "Task_confirm_receipt", "Task_await_confirmation"),
    ],
))


# 2. maintenance-order: customer order, service provider plans the visit, the
#    technician works on site and notarises the service report (a plain
#    notary.record transaction moves the process on), the customer confirms
#    or sends the technician back to rework. The service level is 72 hours on
#    site: past it, the provider's dispatch escalates (non-interrupting).
PROCESSES.append(dict(
    name="maintenance-order", defs="Definitions_maintenance_order", collab="Collaboration_maintenance_order",
    pools=[
        dict(id="Participant_maintenance", name="Maintenance service", process="Process_maintenance",
             pname="Maintenance order",
             lanes=[("Lane_customer", "Customer"), ("Lane_dispatch", "Service provider"),
                    ("Lane_technician", "Technician")],
             data=[("report_hash", "string")],
             nodes=[
                 node("Event_request", "start", "Maintenance requested", "Lane_customer",
                      form=[("request_no", "Request number", "string"), ("asset_id", "Asset", "string"),
                            ("fault", "Fault description", "string")]),
                 node("Task_accept_order", "user", "Accept order and plan visit", "Lane_dispatch",
                      form=[("technician", "Technician", "string"), ("visit_date", "Visit date", "string")]),
                 node("Event_visit_planned", "throw", "Visit planned", "Lane_dispatch"),
                 node("Task_perform_service", "user", "Perform maintenance on site", "Lane_technician",
                      form=[("work_hours", "Working hours", "long")], out=["report_hash"]),
                 node("Event_report_recorded", "catch_msg", "Service report notarised", "Lane_technician"),
                 node("Task_confirm", "user", "Confirm service", "Lane_customer",
                      form=[("accepted", "Service accepted", "boolean")]),
                 node("Gateway_accepted", "xor", "Service accepted?", "Lane_customer", default="Flow_accepted_no"),
                 node("Event_closed", "end", "Order closed", "Lane_customer"),
                 node("Task_rework", "user", "Rework and file new report", "Lane_technician",
                      form=[("rework_note", "Rework note", "string")], out=["report_hash"]),
                 node("Event_sla_overdue", "boundary_timer", "72 hours on site", "Lane_technician",
                      attach="Task_perform_service", cancel=False, timer=("timeDuration", "PT72H")),
                 node("Task_escalate_overdue", "user", "Escalate overdue service", "Lane_dispatch",
                      form=[("escalation_note", "Escalation note", "string")], row=1),
                 node("Event_overdue_escalated", "end", "Overdue service escalated", "Lane_dispatch", row=1),
             ],
             flows=[
                 flow("Flow_request_accept", "Event_request", "Task_accept_order"),
                 flow("Flow_accept_planned", "Task_accept_order", "Event_visit_planned"),
                 flow("Flow_planned_perform", "Event_visit_planned", "Task_perform_service"),
                 flow("Flow_perform_wait", "Task_perform_service", "Event_report_recorded"),
                 flow("Flow_overdue_escalate", "Event_sla_overdue", "Task_escalate_overdue"),
                 flow("Flow_escalate_end", "Task_escalate_overdue", "Event_overdue_escalated"),
                 flow("Flow_recorded_confirm", "Event_report_recorded", "Task_confirm"),
                 flow("Flow_confirm_decide", "Task_confirm", "Gateway_accepted"),
                 flow("Flow_accepted_yes", "Gateway_accepted", "Event_closed", "Yes", "${accepted == true}"),
                 flow("Flow_accepted_no", "Gateway_accepted", "Task_rework", "No"),
                 flow("Flow_rework_wait", "Task_rework", "Event_report_recorded"),
             ]),
    ],
    messages=[],
))

# 3. purchase-order (saved the way Signavio does: default namespace, no Camunda
#    extensions): the buyer orders, the seller accepts or rejects (rejection
#    terminates the buyer's process), logistics ships, the buyer posts the
#    goods receipt and receives the seller's invoice. An order the seller
#    leaves unchecked for two days is escalated (non-interrupting).
PROCESSES.append(dict(
    name="purchase-order", style="signavio", defs="Definitions_purchase_order", collab="Collaboration_purchase_order",
    pools=[
        dict(id="Participant_buyer", name="Buyer", process="Process_buyer", pname="Purchase order",
             lanes=[("Lane_purchasing", "Purchasing"), ("Lane_receiving", "Goods receiving")],
             data=[("order_no", "string"), ("amount", "decimal"), ("receipt_no", "string")],
             nodes=[
                 node("Event_order_needed", "start", "Material needed", "Lane_purchasing",
                      out=["order_no", "amount"]),
                 node("Task_send_order", "send", "Send purchase order", "Lane_purchasing"),
                 node("Gateway_seller_answer", "event", "Seller's answer", "Lane_purchasing"),
                 node("Event_confirmation_received", "catch_msg", "Order confirmed", "Lane_purchasing"),
                 node("Event_rejection_received", "catch_msg", "Order rejected", "Lane_purchasing", row=1),
                 node("Event_order_cancelled", "end_term", "Order cancelled", "Lane_purchasing", row=1),
                 node("Event_goods_arrived", "catch_msg", "Goods arrived", "Lane_receiving"),
                 node("Task_goods_receipt", "user", "Post goods receipt", "Lane_receiving", out=["receipt_no"]),
                 node("Task_receive_invoice", "receive", "Receive invoice", "Lane_purchasing"),
                 node("Task_pay_invoice", "user", "Approve payment", "Lane_purchasing"),
                 node("Event_order_closed", "end", "Order closed", "Lane_purchasing"),
             ],
             flows=[
                 flow("Flow_needed_send", "Event_order_needed", "Task_send_order"),
                 flow("Flow_send_wait", "Task_send_order", "Gateway_seller_answer"),
                 flow("Flow_wait_confirmed", "Gateway_seller_answer", "Event_confirmation_received"),
                 flow("Flow_wait_rejected", "Gateway_seller_answer", "Event_rejection_received"),
                 flow("Flow_rejected_cancel", "Event_rejection_received", "Event_order_cancelled"),
                 flow("Flow_confirmed_goods", "Event_confirmation_received", "Event_goods_arrived"),
                 flow("Flow_goods_receipt", "Event_goods_arrived", "Task_goods_receipt"),
                 flow("Flow_receipt_invoice", "Task_goods_receipt", "Task_receive_invoice"),
                 flow("Flow_invoice_pay", "Task_receive_invoice", "Task_pay_invoice"),
                 flow("Flow_pay_closed", "Task_pay_invoice", "Event_order_closed"),
             ]),
        dict(id="Participant_seller", name="Seller", process="Process_seller", pname="Order fulfilment",
             data=[("accepted", "boolean")],
             nodes=[
                 node("Event_order_received", "start_msg", "Purchase order received"),
                 node("Task_check_order", "user", "Check order", out=["accepted"]),
                 node("Event_answer_due", "boundary_timer", "Two days without an answer",
                      attach="Task_check_order", cancel=False, timer=("timeDuration", "P2D")),
                 node("Task_escalate_answer", "user", "Escalate unanswered order", row=2),
                 node("Event_answer_escalated", "end", "Escalated to sales management", row=2),
                 node("Gateway_accept", "xor", "Order accepted?", default="Flow_accept_no"),
                 node("Task_send_confirmation", "send", "Send order confirmation"),
                 node("Event_rejection_sent", "end_msg", "Rejection sent", row=1),
                 node("Task_request_shipment", "send", "Request shipment"),
                 node("Event_delivery_reported", "catch_msg", "Delivery reported"),
                 node("Task_send_invoice", "send", "Send invoice"),
                 node("Event_invoiced", "end", "Order invoiced"),
             ],
             flows=[
                 flow("Flow_received_check", "Event_order_received", "Task_check_order"),
                 flow("Flow_check_decide", "Task_check_order", "Gateway_accept"),
                 flow("Flow_due_escalate", "Event_answer_due", "Task_escalate_answer"),
                 flow("Flow_escalate_answer_end", "Task_escalate_answer", "Event_answer_escalated"),
                 flow("Flow_accept_yes", "Gateway_accept", "Task_send_confirmation", "Yes", "accepted == true"),
                 flow("Flow_accept_no", "Gateway_accept", "Event_rejection_sent", "No"),
                 flow("Flow_confirm_ship", "Task_send_confirmation", "Task_request_shipment"),
                 flow("Flow_ship_wait", "Task_request_shipment", "Event_delivery_reported"),
                 flow("Flow_reported_invoice", "Event_delivery_reported", "Task_send_invoice"),
                 flow("Flow_invoice_end", "Task_send_invoice", "Event_invoiced"),
             ]),
        dict(id="Participant_logistics", name="Logistics", process="Process_logistics", pname="Shipping",
             data=[("tracking_no", "string")],
             nodes=[
                 node("Event_shipment_requested", "start_msg", "Shipment requested"),
                 node("Task_pickup_goods", "user", "Pick up goods", out=["tracking_no"]),
                 node("Task_deliver_goods", "task", "Deliver goods to buyer"),
                 node("Event_delivery_done", "end_msg", "Delivery reported"),
             ],
             flows=[
                 flow("Flow_requested_pickup", "Event_shipment_requested", "Task_pickup_goods"),
                 flow("Flow_pickup_deliver", "Task_pickup_goods", "Task_deliver_goods"),
                 flow("Flow_deliver_done", "Task_deliver_goods", "Event_delivery_done"),
             ]),
    ],
    messages=[
        ("Flow_msg_order", "Purchase order", "Task_send_order", "Event_order_received"),
        ("Flow_msg_confirmation", "Order confirmation", "Task_send_confirmation", "Event_confirmation_received"),
        ("Flow_msg_rejection", "Rejection", "Event_rejection_sent", "Event_rejection_received"),
        ("Flow_msg_shipment", "Shipping order", "Task_request_shipment", "Event_shipment_requested"),
        ("Flow_msg_delivered", "Proof of delivery", "Event_delivery_done", "Event_delivery_reported"),
        ("Flow_msg_goods", "Goods", "Event_delivery_done", "Event_goods_arrived"),
        ("Flow_msg_invoice", "Invoice", "Task_send_invoice", "Task_receive_invoice"),
    ],
))

# 4. production-split: a production order split across three producers
#    (parallel split and join), optional extras (inclusive split and join),
#    then a manual quality inspection. Planning chases producer A after
#    seven days (non-interrupting).
PROCESSES.append(dict(
    name="production-split", defs="Definitions_production_split", collab="Collaboration_production_split",
    pools=[
        dict(id="Participant_production", name="Production network", process="Process_production",
             pname="Split production order",
             lanes=[("Lane_planning", "Order planning"), ("Lane_producer_a", "Producer A"),
                    ("Lane_producer_b", "Producer B"), ("Lane_producer_c", "Producer C"),
                    ("Lane_quality", "Quality inspection")],
             data=[("inspection_ok", "boolean")],
             nodes=[
                 node("Event_order_received", "start", "Production order received", "Lane_planning",
                      form=[("order_no", "Order number", "string"), ("quantity", "Quantity", "long"),
                            ("paint", "Painting required", "boolean"), ("export", "Export packaging", "boolean")]),
                 node("Task_split_order", "user", "Split order across producers", "Lane_planning",
                      form=[("qty_a", "Quantity producer A", "long"), ("qty_b", "Quantity producer B", "long"),
                            ("qty_c", "Quantity producer C", "long")]),
                 node("Gateway_split", "and", None, "Lane_planning"),
                 node("Event_batch_a_due", "boundary_timer", "Batch A due (7 days)", "Lane_producer_a",
                      attach="Task_produce_a", cancel=False, timer=("timeDuration", "P7D")),
                 node("Task_chase_producer", "user", "Chase producer A", "Lane_planning", row=1),
                 node("Event_producer_chased", "end", "Producer chased", "Lane_planning", row=1),
                 node("Task_produce_a", "user", "Produce batch A", "Lane_producer_a",
                      form=[("batch_a", "Batch A", "string")]),
                 node("Task_produce_b", "user", "Produce batch B", "Lane_producer_b",
                      form=[("batch_b", "Batch B", "string")]),
                 node("Task_produce_c", "user", "Produce batch C", "Lane_producer_c",
                      form=[("batch_c", "Batch C", "string")]),
                 node("Gateway_join", "and", None, "Lane_planning"),
                 node("Gateway_extras", "or", "Extras needed?", "Lane_planning", default="Flow_extras_none"),
                 node("Task_paint", "user", "Paint parts", "Lane_producer_b",
                      form=[("colour", "Colour", "string")]),
                 node("Task_package", "user", "Export packaging", "Lane_producer_c",
                      form=[("crates", "Crates", "long")]),
                 node("Event_no_extras", "throw", "No extras", "Lane_planning"),
                 node("Gateway_extras_join", "or", None, "Lane_planning"),
                 node("Task_inspect", "manual", "Inspect quality", "Lane_quality", out=["inspection_ok"]),
                 node("Event_order_done", "end", "Order completed", "Lane_planning"),
             ],
             flows=[
                 flow("Flow_received_split", "Event_order_received", "Task_split_order"),
                 flow("Flow_split_gateway", "Task_split_order", "Gateway_split"),
                 flow("Flow_split_a", "Gateway_split", "Task_produce_a"),
                 flow("Flow_due_chase", "Event_batch_a_due", "Task_chase_producer"),
                 flow("Flow_chase_end", "Task_chase_producer", "Event_producer_chased"),
                 flow("Flow_split_b", "Gateway_split", "Task_produce_b"),
                 flow("Flow_split_c", "Gateway_split", "Task_produce_c"),
                 flow("Flow_a_join", "Task_produce_a", "Gateway_join"),
                 flow("Flow_b_join", "Task_produce_b", "Gateway_join"),
                 flow("Flow_c_join", "Task_produce_c", "Gateway_join"),
                 flow("Flow_join_extras", "Gateway_join", "Gateway_extras"),
                 flow("Flow_extras_paint", "Gateway_extras", "Task_paint", "Painting", "${paint == true}"),
                 flow("Flow_extras_package", "Gateway_extras", "Task_package", "Export", "${export == true}"),
                 flow("Flow_extras_none", "Gateway_extras", "Event_no_extras", "No extras"),
                 flow("Flow_paint_join", "Task_paint", "Gateway_extras_join"),
                 flow("Flow_package_join", "Task_package", "Gateway_extras_join"),
                 flow("Flow_none_join", "Event_no_extras", "Gateway_extras_join"),
                 flow("Flow_extras_inspect", "Gateway_extras_join", "Task_inspect"),
                 flow("Flow_inspect_done", "Task_inspect", "Event_order_done"),
             ]),
    ],
    messages=[],
))

# 5. receivable-financing: the supplier issues a receivable, the core
#    enterprise confirms it, the supplier applies for financing, the bank runs
#    its due diligence (embedded subprocess), approves an amount (large amounts
#    go to the bank's risk committee), disburses, and the core enterprise
#    settles at maturity (30 days). A receivable the core enterprise leaves
#    unconfirmed for 5 days lapses (an interrupting boundary timer).
PROCESSES.append(dict(
    name="receivable-financing", defs="Definitions_receivable_financing",
    collab="Collaboration_receivable_financing",
    pools=[
        dict(id="Participant_financing", name="Supply chain finance", process="Process_financing",
             pname="Receivable financing",
             lanes=[("Lane_supplier", "Supplier"), ("Lane_core", "Core enterprise"), ("Lane_bank", "Bank"),
                    ("Lane_bank_admin", "Bank risk committee")],
             data=[("amount", "decimal")],
             nodes=[
                 node("Event_receivable_issued", "start", "Receivable issued", "Lane_supplier",
                      form=[("receivable_no", "Receivable number", "string"), ("face_value", "Face value", "decimal")]),
                 node("Event_confirmation_lapsed", "boundary_timer", "Unconfirmed for 5 days", "Lane_core",
                      attach="Task_confirm_receivable", timer=("timeDuration", "P5D")),
                 node("Event_receivable_lapsed", "end", "Receivable lapsed", "Lane_core", row=1),
                 node("Task_confirm_receivable", "user", "Confirm receivable", "Lane_core",
                      form=[("core_ref", "Core enterprise reference", "string")]),
                 node("Task_apply_financing", "user", "Apply for financing", "Lane_supplier",
                      form=[("requested_amount", "Requested amount", "decimal")]),
                 node("SubProcess_due_diligence", "sub", "Bank due diligence", "Lane_bank",
                      nodes=[
                          node("Event_dd_start", "start", "Due diligence started"),
                          node("Task_check_kyc", "user", "Check supplier KYC"),
                          node("Task_assess_credit", "user", "Assess credit risk"),
                          node("Event_dd_end", "end", "Due diligence done"),
                      ],
                      flows=[
                          flow("Flow_dd_kyc", "Event_dd_start", "Task_check_kyc"),
                          flow("Flow_kyc_assess", "Task_check_kyc", "Task_assess_credit"),
                          flow("Flow_assess_end", "Task_assess_credit", "Event_dd_end"),
                      ]),
                 node("Task_approve_amount", "user", "Approve financing amount", "Lane_bank", out=["amount"]),
                 node("Gateway_amount", "xor", "Amount above 1,000,000?", "Lane_bank", default="Flow_amount_normal"),
                 node("Task_admin_review", "user", "Review large financing", "Lane_bank_admin",
                      form=[("review_note", "Review note", "string")]),
                 node("Gateway_amount_merge", "xor", None, "Lane_bank"),
                 node("Task_disburse", "user", "Disburse funds", "Lane_bank",
                      form=[("disbursed_amount", "Disbursed amount", "decimal")]),
                 node("Event_maturity", "catch_timer", "Receivable matures (30 days)", "Lane_core",
                      timer=("timeDuration", "P30D")),
                 node("Task_settle", "user", "Settle receivable", "Lane_core",
                      form=[("settled_amount", "Settled amount", "decimal")]),
                 node("Event_settled", "end", "Receivable settled", "Lane_core"),
             ],
             flows=[
                 flow("Flow_issued_confirm", "Event_receivable_issued", "Task_confirm_receivable"),
                 flow("Flow_confirm_apply", "Task_confirm_receivable", "Task_apply_financing"),
                 flow("Flow_lapsed_end", "Event_confirmation_lapsed", "Event_receivable_lapsed"),
                 flow("Flow_apply_dd", "Task_apply_financing", "SubProcess_due_diligence"),
                 flow("Flow_dd_approve", "SubProcess_due_diligence", "Task_approve_amount"),
                 flow("Flow_approve_decide", "Task_approve_amount", "Gateway_amount"),
                 flow("Flow_amount_large", "Gateway_amount", "Task_admin_review", "Above 1,000,000",
                      "amount > 1000000.00"),
                 flow("Flow_amount_normal", "Gateway_amount", "Gateway_amount_merge", "Up to 1,000,000"),
                 flow("Flow_review_merge", "Task_admin_review", "Gateway_amount_merge"),
                 flow("Flow_merge_disburse", "Gateway_amount_merge", "Task_disburse"),
                 flow("Flow_disburse_maturity", "Task_disburse", "Event_maturity"),
                 flow("Flow_maturity_settle", "Event_maturity", "Task_settle"),
                 flow("Flow_settle_end", "Task_settle", "Event_settled"),
             ]),
    ],
    messages=[],
))

# 6. battery-recycling: the recycler takes a battery back and tests its state
#    of health; healthy batteries go to second-life storage, the others are
#    dismantled; the revenue split is notarised and the OEM is notified,
#    which starts the OEM's passport update.
PROCESSES.append(dict(
    name="battery-recycling", defs="Definitions_battery_recycling", collab="Collaboration_battery_recycling",
    pools=[
        dict(id="Participant_recycler", name="Recycler", process="Process_recycler", pname="Battery take-back",
             lanes=[("Lane_intake", "Intake"), ("Lane_lab", "Test lab"), ("Lane_operations", "Operations")],
             data=[("soh", "integer")],
             nodes=[
                 node("Event_battery_returned", "start", "Battery returned", "Lane_intake",
                      form=[("battery_id", "Battery id", "string"), ("chemistry", "Cell chemistry", "string")]),
                 node("Task_take_back", "user", "Take back and register battery", "Lane_intake",
                      form=[("weight_kg", "Weight (kg)", "long")]),
                 node("Task_test_soh", "user", "Test state of health", "Lane_lab", out=["soh"]),
                 node("Event_test_due", "boundary_timer", "Test due (3 days)", "Lane_lab",
                      attach="Task_test_soh", cancel=False, timer=("timeDuration", "P3D")),
                 node("Task_chase_lab", "user", "Chase the lab", "Lane_intake", row=1),
                 node("Event_lab_chased", "end", "Lab chased", "Lane_intake", row=1),
                 node("Gateway_soh", "xor", "State of health?", "Lane_lab"),
                 node("Task_second_life", "user", "Prepare for second-life storage", "Lane_operations",
                      form=[("storage_site", "Storage site", "string")]),
                 node("Task_dismantle", "user", "Dismantle and recover materials", "Lane_operations",
                      form=[("recovered_kg", "Recovered material (kg)", "long")], row=1),
                 node("Gateway_soh_merge", "xor", None, "Lane_operations"),
                 node("Task_sell", "user", "Sell output", "Lane_operations",
                      form=[("revenue", "Revenue", "long"), ("settlement_hash", "Settlement document hash", "string")]),
                 node("Task_record_split", "service", "Record revenue split", "Lane_operations",
                      topic="notary.record"),
                 node("Event_notify_oem", "throw_msg", "Notify OEM", "Lane_operations"),
                 node("Event_recycling_done", "end", "Battery processed", "Lane_operations"),
             ],
             flows=[
                 flow("Flow_returned_take", "Event_battery_returned", "Task_take_back"),
                 flow("Flow_take_test", "Task_take_back", "Task_test_soh"),
                 flow("Flow_due_chase_lab", "Event_test_due", "Task_chase_lab"),
                 flow("Flow_chase_lab_end", "Task_chase_lab", "Event_lab_chased"),
                 flow("Flow_test_decide", "Task_test_soh", "Gateway_soh"),
                 flow("Flow_soh_high", "Gateway_soh", "Task_second_life", "SoH at least 80", "${soh >= 80}"),
                 flow("Flow_soh_low", "Gateway_soh", "Task_dismantle", "SoH below 80", "${soh < 80}"),
                 flow("Flow_second_merge", "Task_second_life", "Gateway_soh_merge"),
                 flow("Flow_dismantle_merge", "Task_dismantle", "Gateway_soh_merge"),
                 flow("Flow_merge_sell", "Gateway_soh_merge", "Task_sell"),
                 flow("Flow_sell_record", "Task_sell", "Task_record_split"),
                 flow("Flow_record_notify", "Task_record_split", "Event_notify_oem"),
                 flow("Flow_notify_done", "Event_notify_oem", "Event_recycling_done"),
             ]),
        dict(id="Participant_oem", name="OEM", process="Process_oem", pname="Battery passport",
             nodes=[
                 node("Event_report_received", "start_msg", "Recycling report received"),
                 node("Task_update_passport", "manual", "Update battery passport"),
                 node("Event_passport_updated", "end", "Passport updated"),
             ],
             flows=[
                 flow("Flow_report_update", "Event_report_received", "Task_update_passport"),
                 flow("Flow_update_done", "Task_update_passport", "Event_passport_updated"),
             ]),
    ],
    messages=[
        ("Flow_msg_report", "Recycling report", "Event_notify_oem", "Event_report_received"),
    ],
))

def main(argv):
    wanted = set(argv[1:])
    for proc in PROCESSES:
        if not wanted or proc["name"] in wanted:
            generate(proc)


if __name__ == "__main__":
    main(sys.argv)
