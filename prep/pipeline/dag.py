"""The stage graph: an edge A -> B when a dependency of B is, contains or lies inside an output of A."""

from __future__ import annotations

from pathlib import Path

from prep.pipeline.spec import Pipeline, SpecError


def _overlaps(a: Path, b: Path) -> bool:
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


class Graph:
    """Upstream/downstream relations of a pipeline's stages, in a stable topological order."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        names = list(pipeline.stages)
        self.upstream: dict[str, list[str]] = {n: [] for n in names}
        self.downstream: dict[str, list[str]] = {n: [] for n in names}
        outs = [(s.name, s.abspath(o.path)) for s in pipeline.stages.values() for o in s.outs]
        for stage in pipeline.stages.values():
            for dep in stage.deps:
                d = stage.abspath(dep)
                for producer, o in outs:
                    if _overlaps(d, o) and producer not in self.upstream[stage.name]:
                        if producer == stage.name:
                            raise SpecError(
                                f"{pipeline.path.name}: stage '{stage.name}': dependency '{dep}' "
                                "is also one of its own outputs (a dependency cycle)"
                            )
                        self.upstream[stage.name].append(producer)
                        self.downstream[producer].append(stage.name)
        self.order = self._toposort(names)

    def _toposort(self, names: list[str]) -> list[str]:
        """Kahn's algorithm, taking ready stages in file order; a leftover means a cycle."""
        indeg = {n: len(self.upstream[n]) for n in names}
        order: list[str] = []
        ready = [n for n in names if indeg[n] == 0]
        while ready:
            n = ready.pop(0)
            order.append(n)
            for m in self.downstream[n]:
                indeg[m] -= 1
                if indeg[m] == 0:
                    ready.append(m)
                    ready.sort(key=names.index)
        if len(order) < len(names):
            cycle = self._find_cycle([n for n in names if n not in order])
            raise SpecError(
                f"{self.pipeline.path.name}: stage '{cycle[0]}': dependency cycle: " + " -> ".join(cycle)
            )
        return order

    def _find_cycle(self, left: list[str]) -> list[str]:
        path: list[str] = []
        node = left[0]
        while node not in path:
            path.append(node)
            node = next(u for u in self.upstream[node] if u in left)
        cycle = [*path[path.index(node) :], node]
        return list(reversed(cycle))

    def closure(self, start: list[str], direction: str) -> set[str]:
        """`start` plus every stage reachable upstream or downstream ("up"/"down")."""
        edges = self.upstream if direction == "up" else self.downstream
        seen: set[str] = set()
        stack = list(start)
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            # DVC does not reproduce the dependencies of a frozen stage on its behalf.
            if direction == "up" and self.pipeline.stages[n].frozen and n not in start:
                continue
            stack.extend(edges[n])
        return seen

    def select(self, targets: list[str], single_item: bool = False, downstream: bool = False) -> list[str]:
        """The stages a run with these targets covers, in dependency order."""
        if not targets:
            return list(self.order)
        if single_item:
            chosen = set(targets)
        elif downstream:
            chosen = self.closure(targets, "down")
        else:
            chosen = self.closure(targets, "up")
        return [n for n in self.order if n in chosen]

    def render_text(self) -> str:
        width = max(len(n) for n in self.order)
        lines = []
        for n in self.order:
            ups = self.upstream[n]
            lines.append(f"{n:<{width}}  <- {', '.join(ups)}" if ups else n)
        return "\n".join(lines)

    def render_dot(self) -> str:
        lines = ["strict digraph {"]
        lines += [f'"{n}";' for n in self.order]
        lines += [f'"{u}" -> "{n}";' for n in self.order for u in self.upstream[n]]
        return "\n".join([*lines, "}"])

    def render_mermaid(self) -> str:
        ids = {n: f"node{i + 1}" for i, n in enumerate(self.order)}
        lines = ["flowchart TD"]
        lines += [f'\t{ids[n]}["{n}"]' for n in self.order]
        lines += [f"\t{ids[u]}-->{ids[n]}" for n in self.order for u in self.upstream[n]]
        return "\n".join(lines)
