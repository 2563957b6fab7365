"""What the two panel renderers (fastplotlib and matplotlib) share: which parts a redraw touches."""
from __future__ import annotations

__all__ = ["PanelUpdates"]


class PanelUpdates:
    """Mixin of a panel renderer: :meth:`update` redraws only the parts that changed.

    A renderer provides ``_update_window`` (heatmap window, colour bar, group track),
    ``_update_selection`` (the selected row and column marks), ``_update_row`` (the
    trace and spatial panels) and ``update_titles``.
    """

    def update(self, *parts: str) -> None:
        """Redraw the parts that changed: ``window``, ``row``, ``selection``, ``style``, ``titles``."""
        parts_set = set(parts)
        if "window" in parts_set or "style" in parts_set:
            self._update_window()
        elif "selection" in parts_set:
            self._update_selection()
        if "row" in parts_set or "style" in parts_set:
            self._update_row()
        self.update_titles()
