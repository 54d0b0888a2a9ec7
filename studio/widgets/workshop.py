"""Workshop mode in the studio: RACI, open questions and decisions per step, and the minutes.

:class:`WorkshopEditor` is the plain-Python part: each method changes the workflow's ``workshop``
section through the :class:`~studio.widgets.controller.StudioController`'s edit machinery, so
every change is validated, is one step on the undo stack and is autosaved like any other edit
(a refused edit raises :class:`~studio.widgets.controller.EditRefused` and changes nothing).

:class:`WorkshopPanel` only wires ipywidgets to it (a tab for the studio)::

    Workshop: date [2026-11-30]  attendees [Maria Lopez, Tom Berg]  notes [...]   [Save details]
    Step [Manager approves the claim (manager_approval) v]
      RACI         responsible [...] accountable [...] consulted [...] informed [...]   [Save RACI]
      Questions    the step's questions        [question] [asked by]   [Add question]
                   [question v] [answer]       [Mark answered] [Reopen] [Delete]
      Decisions    the step's decisions        [decision] [when] [by]  [Add decision]
                   [decision v]                [Delete]
    Minutes  [claims-minutes.html]  [Write minutes]

RACI fields take entries separated by commas: actor ids (``managers``) or people's and teams'
names as written (``Maria Lopez``, ``CFO``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as w

from studio import fileio
from studio.errors import LoadError, StudioError
from studio.model import RACI_ROLES, StepNotes, Workflow
from studio.widgets._parts import FIELD, FORM_WIDTH, _button, _text
from studio.widgets.controller import EditRefused, StudioController
from studio.widgets.present import _esc

__all__ = ["WorkshopEditor", "WorkshopPanel", "split_entries"]


def split_entries(text: str | Sequence[str] | None) -> list[str]:
    """``"managers, Maria Lopez"`` -> ``["managers", "Maria Lopez"]`` (blanks and repeats dropped)."""
    items = text.split(",") if isinstance(text, str) else list(text or [])
    return list(dict.fromkeys(item.strip() for item in items if item and item.strip()))


def _clean(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


class WorkshopEditor:
    """Edits of the ``workshop`` section, each one undoable step through ``controller``."""

    def __init__(self, controller: StudioController) -> None:
        self.controller = controller

    # ------------------------------------------------------------------ reading

    @property
    def workflow(self) -> Workflow:
        return self.controller.workflow

    def notes(self, node_id: str) -> StepNotes:
        """The notes kept for a step (empty notes when there are none)."""
        return self.workflow.workshop.nodes.get(node_id) or StepNotes()

    def step_choices(self) -> list[tuple[str, str]]:
        """``(label, node id)`` for every step, in the map's order: ``"Manager approves (manager_approval)"``."""
        out = []
        for node in self.workflow.nodes:
            label = node.name if node.name and node.name != node.id else None
            out.append((f"{label} ({node.id})" if label else node.id, node.id))
        return out

    def default_minutes_path(self) -> Path:
        """``<file stem>-minutes.html`` next to the workflow file, else ``minutes.html`` here."""
        path = self.controller.path
        return path.with_name(f"{path.stem}-minutes.html") if path is not None else Path("minutes.html")

    # ------------------------------------------------------------------ the edit machinery

    def _edit(self, change: Callable[[dict[str, Any]], str]) -> Workflow:
        """Apply ``change(workshop data)`` (returning what it did) to a copy and commit it as one step."""
        data = fileio.to_data(self.workflow)
        workshop: dict[str, Any] = data.setdefault("workshop", {})
        description = change(workshop)
        steps = workshop.get("nodes", {})
        for node_id in [key for key, value in steps.items() if not any(value.values())]:
            del steps[node_id]  # a step whose notes were all removed leaves no empty entry behind
        if not steps:
            workshop.pop("nodes", None)
        if not workshop:
            data.pop("workshop")
        return self.controller._commit(data, description)

    def _step(self, workshop: dict[str, Any], node_id: str) -> dict[str, Any]:
        if node_id not in self.workflow.node_ids:
            raise EditRefused(f"there is no step `{node_id}`; pick one from the list")
        step: dict[str, Any] = workshop.setdefault("nodes", {}).setdefault(node_id, {})
        return step

    @staticmethod
    def _item(items: list[dict[str, Any]], index: int, what: str, node_id: str) -> dict[str, Any]:
        if not 0 <= index < len(items):
            raise EditRefused(f"step `{node_id}` has no {what} number {index + 1}")
        return items[index]

    # ------------------------------------------------------------------ the workshop

    def update_details(self, *, date: str | None = None, attendees: str | Sequence[str] | None = None,
                       notes: str | None = None) -> Workflow:
        """Set the workshop's day (``YYYY-MM-DD``), attendees (a list or ``"a, b"``) and free notes;
        empty clears a field."""

        def change(workshop: dict[str, Any]) -> str:
            for key, value in (("date", _clean(date)), ("attendees", split_entries(attendees) or None),
                               ("notes", _clean(notes))):
                if value is None:
                    workshop.pop(key, None)
                else:
                    workshop[key] = value
            return "Changed the workshop's date, attendees and notes."

        return self._edit(change)

    def set_raci(self, node_id: str, **roles: str | Sequence[str] | None) -> Workflow:
        """Set a step's RACI: ``responsible=``, ``accountable=``, ``consulted=``, ``informed=`` (a list
        or ``"a, b"``; empty clears). Roles not given stay as they are."""
        unknown = sorted(set(roles) - set(RACI_ROLES))
        if unknown:
            raise EditRefused(f"`{unknown[0]}` is not a RACI role; use {', '.join(RACI_ROLES)}")

        def change(workshop: dict[str, Any]) -> str:
            step = self._step(workshop, node_id)
            raci = step.setdefault("raci", {})
            for role, value in roles.items():
                entries = split_entries(value)
                if entries:
                    raci[role] = entries
                else:
                    raci.pop(role, None)
            if not raci:
                step.pop("raci")
            return f"Changed the RACI of `{node_id}`."

        return self._edit(change)

    def add_question(self, node_id: str, text: str, asked_by: str | None = None) -> Workflow:
        """Note an open question about a step."""
        if _clean(text) is None:
            raise EditRefused("write the question first")

        def change(workshop: dict[str, Any]) -> str:
            question = {"text": text.strip(), "asked_by": _clean(asked_by)}
            self._step(workshop, node_id).setdefault("questions", []).append(
                {k: v for k, v in question.items() if v is not None})
            return f"Noted a question about `{node_id}`."

        return self._edit(change)

    def answer_question(self, node_id: str, index: int, answer: str | None = None) -> Workflow:
        """Mark question ``index`` (0-based) of a step answered, with the answer when given."""

        def change(workshop: dict[str, Any]) -> str:
            question = self._item(self._step(workshop, node_id).get("questions", []), index, "question", node_id)
            question["status"] = "answered"
            if _clean(answer) is not None:
                question["answer"] = _clean(answer)
            return f"Marked question {index + 1} of `{node_id}` answered."

        return self._edit(change)

    def reopen_question(self, node_id: str, index: int) -> Workflow:
        """Mark question ``index`` open again (its answer is kept)."""

        def change(workshop: dict[str, Any]) -> str:
            question = self._item(self._step(workshop, node_id).get("questions", []), index, "question", node_id)
            question.pop("status", None)
            return f"Reopened question {index + 1} of `{node_id}`."

        return self._edit(change)

    def delete_question(self, node_id: str, index: int) -> Workflow:
        def change(workshop: dict[str, Any]) -> str:
            questions = self._step(workshop, node_id).get("questions", [])
            self._item(questions, index, "question", node_id)
            questions.pop(index)
            return f"Deleted question {index + 1} of `{node_id}`."

        return self._edit(change)

    def add_decision(self, node_id: str, text: str, when: str | None = None,
                     decided_by: str | None = None) -> Workflow:
        """Note a decision about a step; ``when`` (``YYYY-MM-DD``) defaults to the workshop's date."""
        if _clean(text) is None:
            raise EditRefused("write the decision first")

        def change(workshop: dict[str, Any]) -> str:
            decision = {"text": text.strip(), "when": _clean(when) or workshop.get("date"),
                        "decided_by": _clean(decided_by)}
            self._step(workshop, node_id).setdefault("decisions", []).append(
                {k: v for k, v in decision.items() if v is not None})
            return f"Noted a decision about `{node_id}`."

        return self._edit(change)

    def delete_decision(self, node_id: str, index: int) -> Workflow:
        def change(workshop: dict[str, Any]) -> str:
            decisions = self._step(workshop, node_id).get("decisions", [])
            self._item(decisions, index, "decision", node_id)
            decisions.pop(index)
            return f"Deleted decision {index + 1} of `{node_id}`."

        return self._edit(change)

    # ------------------------------------------------------------------ minutes

    def write_minutes(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the minutes (:func:`studio.minutes.write_minutes`) with the studio's findings and its
        last simulation (else the run kept next to the workflow file); says where in the message."""
        from studio.minutes import write_minutes  # noqa: PLC0415

        target = Path(path) if path is not None and str(path).strip() else self.default_minutes_path()
        written = write_minutes(self.workflow, target, findings=self.controller.findings,
                                results=self.controller.last_results)
        self.controller.message = f"Wrote the minutes to `{written}`."
        return written


# =========================================================================== the panel


class WorkshopPanel(w.VBox):  # type: ignore[misc]  # ipywidgets is untyped
    """The Workshop tab: edit the selected step's RACI, questions and decisions; write the minutes.

    ``WorkshopPanel(controller)`` follows the controller (it redraws after every change, undo
    included); ``select(node_id)`` shows a step's notes (the studio calls it when a step is selected).
    """

    def __init__(self, controller: StudioController) -> None:
        self.controller = controller
        self.editor = WorkshopEditor(controller)
        self._quiet = 0
        self.status = w.HTML()
        # the workshop
        self.date_text = _text("Date", "YYYY-MM-DD")
        self.attendees_text = _text("Attendees", "names, separated by commas")
        self.notes_text = w.Textarea(description="Notes", placeholder="free notes for the minutes", rows=3,
                                     style=FIELD, layout=w.Layout(width=FORM_WIDTH))
        self.details_button = _button("Save details", "primary", icon="save")
        # the step
        self.step_pick = w.Dropdown(description="Step", options=[], style=FIELD, layout=w.Layout(width=FORM_WIDTH))
        self.raci = {role: _text(role.capitalize(), "actor ids or names, separated by commas")
                     for role in RACI_ROLES}
        self.actors_hint = w.HTML()
        self.raci_button = _button("Save RACI", "primary", icon="save")
        self.questions_html = w.HTML()
        self.question_text = _text("Question", "what the room could not answer yet")
        self.asked_by_text = _text("Asked by")
        self.add_question_button = _button("Add question", "", icon="plus")
        self.question_pick = w.Dropdown(description="Question", options=[], style=FIELD,
                                        layout=w.Layout(width=FORM_WIDTH))
        self.answer_text = _text("Answer")
        self.answer_button = _button("Mark answered", "success", icon="check")
        self.reopen_button = _button("Reopen", "", icon="undo")
        self.delete_question_button = _button("Delete question", "danger", icon="trash")
        self.decisions_html = w.HTML()
        self.decision_text = _text("Decision", "what the room decided")
        self.when_text = _text("When", "YYYY-MM-DD (default: the workshop's date)")
        self.decided_by_text = _text("Decided by")
        self.add_decision_button = _button("Add decision", "", icon="plus")
        self.decision_pick = w.Dropdown(description="Decision", options=[], style=FIELD,
                                        layout=w.Layout(width=FORM_WIDTH))
        self.delete_decision_button = _button("Delete decision", "danger", icon="trash")
        # minutes
        self.minutes_path = _text("Minutes file", "minutes.md or minutes.html")
        self.minutes_button = _button("Write minutes", "primary", icon="file-text")

        self.details_button.on_click(lambda _: self._act(self._save_details))
        self.raci_button.on_click(lambda _: self._act(self._save_raci))
        self.add_question_button.on_click(lambda _: self._act(self._add_question))
        self.answer_button.on_click(lambda _: self._act(self._answer))
        self.reopen_button.on_click(lambda _: self._act(self._reopen))
        self.delete_question_button.on_click(lambda _: self._act(self._delete_question))
        self.add_decision_button.on_click(lambda _: self._act(self._add_decision))
        self.delete_decision_button.on_click(lambda _: self._act(self._delete_decision))
        self.minutes_button.on_click(lambda _: self._act(self._write_minutes))
        self.step_pick.observe(self._on_step, names="value")

        def section(title: str) -> Any:
            return w.HTML(f"<b style='font-size:15px'>{_esc(title)}</b>")

        super().__init__(children=[
            self.status,
            section("Workshop"), self.date_text, self.attendees_text, self.notes_text, self.details_button,
            section("Step"), self.step_pick,
            section("RACI"), *self.raci.values(), self.actors_hint, self.raci_button,
            section("Open questions"), self.questions_html, self.question_text, self.asked_by_text,
            self.add_question_button, self.question_pick, self.answer_text,
            w.HBox([self.answer_button, self.reopen_button, self.delete_question_button]),
            section("Decisions"), self.decisions_html, self.decision_text, self.when_text, self.decided_by_text,
            self.add_decision_button, self.decision_pick, self.delete_decision_button,
            section("Minutes"), self.minutes_path, self.minutes_button,
        ], layout=w.Layout(width="100%"))
        self.add_class("wds-workshop")
        controller.subscribe(self._on_controller)
        self.minutes_path.value = str(self.editor.default_minutes_path())
        self.refresh()
        self._say("")

    # ------------------------------------------------------------------ plumbing

    @property
    def selected(self) -> str | None:
        """The step whose notes are shown."""
        value: str | None = self.step_pick.value
        return value

    def select(self, node_id: str | None) -> None:
        """Show the notes of step ``node_id`` (ignored when there is no such step)."""
        if node_id is not None and node_id in self.controller.workflow.node_ids:
            self.step_pick.value = node_id

    def _say(self, message: str, bad: bool = False) -> None:
        colour = "#C62828" if bad else "#2E7D32"
        self.status.value = (f'<div style="font-size:15px;padding:4px 10px;border-left:5px solid {colour}">'
                             f"{_esc(message or ' ')}</div>")

    def _act(self, action: Callable[[], Any]) -> Any:
        """Run one edit; a refusal is shown and changes nothing."""
        try:
            result = action()
        except (EditRefused, LoadError, StudioError, ValueError, OSError) as exc:
            text = f"cannot write `{exc.filename}`: {exc.strerror}" if isinstance(exc, OSError) and \
                exc.filename else str(exc)
            self._say(f"Not done: {text}", bad=True)
            return None
        self._say(self.controller.message, bad=bool(self.controller.save_error))
        return result

    def _on_controller(self, event: str) -> None:
        if event == "changed":
            self.refresh()

    def _on_step(self, _: Mapping[str, Any]) -> None:
        if not self._quiet:
            self._load_step()

    # ------------------------------------------------------------------ showing

    def refresh(self) -> None:
        """Redraw from the controller: the workshop's details, the step list and the step's notes."""
        self._quiet += 1
        try:
            shop = self.controller.workflow.workshop
            self.date_text.value = shop.date or ""
            self.attendees_text.value = ", ".join(shop.attendees)
            self.notes_text.value = shop.notes or ""
            choices = self.editor.step_choices()
            keep = self.step_pick.value
            if tuple(choices) != tuple(self.step_pick.options):
                self.step_pick.options = choices
            ids = [value for _, value in choices]
            self.step_pick.value = keep if keep in ids else (ids[0] if ids else None)
        finally:
            self._quiet -= 1
        self._load_step()

    def _load_step(self) -> None:
        node_id = self.selected
        notes = self.editor.notes(node_id) if node_id is not None else StepNotes()
        for role, field in self.raci.items():
            field.value = ", ".join(getattr(notes.raci, role))
        actors = [a.id for a in self.controller.workflow.actors]
        self.actors_hint.value = ("<small>Actors: " + ", ".join(f"<code>{_esc(a)}</code>" for a in actors)
                                  + "; anything else is kept as a name.</small>") if actors else ""
        rows = []
        for question in notes.questions:
            answered = question.status == "answered"
            state = "answered" + (f": {question.answer}" if question.answer else "") if answered else "open"
            who = f" (asked by {question.asked_by})" if question.asked_by else ""
            rows.append(f"<li>{_esc(question.text)}{_esc(who)} — <i>{_esc(state)}</i></li>")
        self.questions_html.value = f"<ol>{''.join(rows)}</ol>" if rows else "<i>No questions about this step.</i>"
        self.question_pick.options = [(f"{n}. {q.text[:60]}", n - 1) for n, q in enumerate(notes.questions, 1)]
        rows = []
        for decision in notes.decisions:
            when = f" ({decision.when})" if decision.when else ""
            by = f", by {decision.decided_by}" if decision.decided_by else ""
            rows.append(f"<li>{_esc(decision.text)}{_esc(when + by)}</li>")
        self.decisions_html.value = f"<ol>{''.join(rows)}</ol>" if rows else "<i>No decisions about this step.</i>"
        self.decision_pick.options = [(f"{n}. {d.text[:60]}", n - 1) for n, d in enumerate(notes.decisions, 1)]
        has_questions, has_decisions = bool(notes.questions), bool(notes.decisions)
        for button in (self.answer_button, self.reopen_button, self.delete_question_button):
            button.disabled = not has_questions
        self.delete_decision_button.disabled = not has_decisions
        for button in (self.raci_button, self.add_question_button, self.add_decision_button):
            button.disabled = node_id is None

    # ------------------------------------------------------------------ actions

    def _require_step(self) -> str:
        if self.selected is None:
            raise EditRefused("add a step to the map first")
        return self.selected

    def _save_details(self) -> Workflow:
        return self.editor.update_details(date=self.date_text.value, attendees=self.attendees_text.value,
                                          notes=self.notes_text.value)

    def _save_raci(self) -> Workflow:
        return self.editor.set_raci(self._require_step(), **{role: f.value for role, f in self.raci.items()})

    def _add_question(self) -> Workflow:
        result = self.editor.add_question(self._require_step(), self.question_text.value, self.asked_by_text.value)
        self.question_text.value = ""
        return result

    def _picked_question(self) -> int:
        if self.question_pick.value is None:
            raise EditRefused("pick a question first")
        index: int = self.question_pick.value
        return index

    def _answer(self) -> Workflow:
        result = self.editor.answer_question(self._require_step(), self._picked_question(), self.answer_text.value)
        self.answer_text.value = ""
        return result

    def _reopen(self) -> Workflow:
        return self.editor.reopen_question(self._require_step(), self._picked_question())

    def _delete_question(self) -> Workflow:
        return self.editor.delete_question(self._require_step(), self._picked_question())

    def _add_decision(self) -> Workflow:
        result = self.editor.add_decision(self._require_step(), self.decision_text.value, self.when_text.value,
                                          self.decided_by_text.value)
        self.decision_text.value = ""
        return result

    def _delete_decision(self) -> Workflow:
        if self.decision_pick.value is None:
            raise EditRefused("pick a decision first")
        return self.editor.delete_decision(self._require_step(), self.decision_pick.value)

    def _write_minutes(self) -> Path:
        return self.editor.write_minutes(self.minutes_path.value)
