#!/usr/bin/env python3
"""Generate the sample and gold case data of every template under ``templates/``.

    python scripts/generate_template_data.py            # (re)write every sample.csv and gold.csv
    python scripts/generate_template_data.py --check    # exit 1 if a committed file is out of date
    python scripts/generate_template_data.py procurement --check   # one template only

Standard library only, and deterministic: each template has its own ``random.Random(seed)``, so
running the script twice gives byte-identical files.

``sample.csv`` holds synthetic cases (one row a case): the fields the workflow's conditions read,
"ground truth" for what agents and people would produce (so a simulation can replay it) and
realistic context columns. ``gold.csv`` holds cases with the scripted human answers
(``human_decisions``: ``approval_id=answer`` pairs separated by ``;`` in the order the approvals are
met, an approval met twice appears twice), the ``expected_path`` (node ids joined by ``>``; for a
parallel fork, the branches in the order the YAML declares them, then the join) and the
``expected_outcome``.

The expected path is computed from the business rules written out below in plain Python; the
YAML's conditions are never evaluated here, so the gold set is an independent regression gate for
the workflow definitions. The script also checks that the gold cases take every branch of every
decision at least once.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import random
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"
SAMPLE_ROWS = 240
GOLD_ROWS = 30
GOLD_COLUMNS = ["human_decisions", "expected_path", "expected_outcome"]

Row = dict[str, str]


# =========================================================================== helpers


def money(value: float) -> str:
    return f"{value:.2f}"


def log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def weighted(rng: random.Random, options: Mapping[str, float]) -> str:
    names = list(options)
    return rng.choices(names, weights=[options[n] for n in names], k=1)[0]


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def coerce(text: str) -> Any:
    """Read a CSV cell the way the studio does: int, else float, else the text."""
    text = text.strip()
    if text == "":
        return None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


class Forced:
    """Values a gold scenario pins; anything not pinned is drawn at random."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = dict(values)
        self.used: set[str] = set()

    def get(self, name: str, draw: Callable[[], Any]) -> Any:
        if name in self.values:
            self.used.add(name)
            return self.values[name]
        return draw()

    def check_used(self, where: str) -> None:
        unused = sorted(set(self.values) - self.used)
        if unused:
            raise AssertionError(f"{where}: scenario pins unknown field(s) {unused}")


class Trace:
    """A case's walk through the business rules: the path, the branches taken, the answers given."""

    def __init__(self, answer: Callable[[str], str]) -> None:
        self.path: list[str] = []
        self.taken: set[tuple[str, str]] = set()
        self.decisions: list[tuple[str, str]] = []
        self.outcome = ""
        self._answer = answer

    def visit(self, *nodes: str) -> None:
        self.path.extend(nodes)

    def take(self, decision: str, target: str) -> None:
        if not self.path or self.path[-1] != decision:
            raise AssertionError(f"branch {decision} -> {target} taken away from {decision}")
        self.taken.add((decision, target))

    def ask(self, approval: str) -> str:
        if approval not in self.path[-2:]:
            raise AssertionError(f"approval {approval} answered away from where the case is")
        answer = self._answer(approval)
        if answer not in ("approve", "reject", "send_back"):
            raise AssertionError(f"{approval}: unknown answer {answer!r}")
        self.decisions.append((approval, answer))
        return answer

    def finish(self, end: str, outcome: str) -> Trace:
        self.visit(end)
        self.outcome = outcome
        return self


class Scripted:
    """Answers approvals from a fixed script, in order; complains if the script does not fit."""

    def __init__(self, script: list[tuple[str, str]], where: str) -> None:
        self.script = list(script)
        self.where = where

    def __call__(self, approval: str) -> str:
        if not self.script:
            raise AssertionError(f"{self.where}: no scripted answer left for {approval}")
        expected, answer = self.script.pop(0)
        if expected != approval:
            raise AssertionError(f"{self.where}: script answers {expected} but the case is at {approval}")
        return answer

    def done(self) -> None:
        if self.script:
            raise AssertionError(f"{self.where}: script answers left over: {self.script}")


class RandomAnswers:
    """Plausible answers for extra gold cases: mostly approve, at most one send-back per approval."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.sent_back: set[str] = set()

    def __call__(self, approval: str) -> str:
        roll = self.rng.random()
        if roll < 0.08 and approval not in self.sent_back:
            self.sent_back.add(approval)
            return "send_back"
        return "reject" if roll > 0.88 else "approve"


def always_approve(approval: str) -> str:
    return "approve"


@dataclass
class Scenario:
    """A gold case: pinned fields and the scripted answer of every approval on its path."""

    note: str
    pins: dict[str, Any] = field(default_factory=dict)
    answers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class TemplateData:
    name: str
    seed: int
    prefix: str
    rate_per_hour: float
    start: datetime
    columns: list[str]
    make_case: Callable[[random.Random, Forced], Row]
    route: Callable[[dict[str, Any], Trace], Trace]
    branches: list[tuple[str, str]]
    scenarios: list[Scenario]


def arrivals(rng: random.Random, start: datetime, per_hour: float, count: int) -> Iterator[tuple[datetime, int]]:
    offset = 0.0
    for _ in range(count):
        offset += rng.expovariate(per_hour / 3600.0)
        seconds = int(offset)
        yield start + timedelta(seconds=seconds), seconds


# =========================================================================== procurement

VENDORS = [
    # id, name, country, status
    ("V10021", "Nordlicht Bürobedarf GmbH", "DE", "approved"),
    ("V10034", "Atlas Office Supplies Ltd", "GB", "approved"),
    ("V10057", "Cobalt IT Distribution BV", "NL", "approved"),
    ("V10062", "Helix Software Europe SARL", "FR", "approved"),
    ("V10078", "Brightwave Consulting AG", "CH", "approved"),
    ("V10081", "Meridian Facility Services GmbH", "DE", "approved"),
    ("V10095", "Polaris Lab Instruments AB", "SE", "approved"),
    ("V10103", "Quartz Marketing Group SL", "ES", "approved"),
    ("V10117", "Tessera Cloud Services Ltd", "IE", "approved"),
    ("V10124", "Vektor Industrietechnik GmbH", "AT", "approved"),
    ("V10139", "Lumen Print & Promo Srl", "IT", "approved"),
    ("V10146", "Ostrava Steel Components s.r.o.", "CZ", "approved"),
    ("V10152", "Kestrel Security Systems Ltd", "GB", "approved"),
    ("V10168", "Fjord Data Analytics AS", "NO", "approved"),
    ("V10173", "Gdańsk Packaging Sp. z o.o.", "PL", "approved"),
    ("V10189", "Sunridge Catering GmbH", "DE", "approved"),
    ("V10194", "Arcadia Legal Partners LLP", "GB", "approved"),
    ("V10208", "Mistral Engineering SAS", "FR", "approved"),
    ("V10215", "Orbital Hardware Trading FZE", "AE", "new"),
    ("V10223", "Nimbus Workplace Solutions BV", "NL", "new"),
    ("V10231", "Halcyon Events Ltd", "GB", "new"),
    ("V10246", "Zenith Components Ltd", "HK", "new"),
    ("V10250", "Redline Trading LLC", "US", "blocked"),
    ("V10267", "Greyhaven Import Export Ltd", "CY", "blocked"),
]

PROCUREMENT_CATEGORIES = {
    # category: (weight, low, high, preferred vendor ids)
    "office_supplies": (18, 40, 2500, ["V10021", "V10034", "V10223", "V10173"]),
    "it_hardware": (16, 400, 60000, ["V10057", "V10215", "V10246", "V10250"]),
    "software_licences": (12, 900, 120000, ["V10062", "V10117", "V10168"]),
    "professional_services": (12, 4000, 220000, ["V10078", "V10194", "V10168", "V10208"]),
    "facilities": (14, 250, 45000, ["V10081", "V10152", "V10189", "V10223"]),
    "marketing": (10, 800, 80000, ["V10103", "V10139", "V10231", "V10267"]),
    "lab_equipment": (8, 1500, 150000, ["V10095", "V10124", "V10208"]),
    "production_materials": (10, 2000, 90000, ["V10146", "V10173", "V10124", "V10246"]),
}

DEPARTMENTS = [
    ("IT", "CC-4100"),
    ("Finance", "CC-1200"),
    ("Marketing", "CC-3300"),
    ("Operations", "CC-5100"),
    ("R&D", "CC-6200"),
    ("HR", "CC-1500"),
    ("Facilities", "CC-5400"),
    ("Sales", "CC-3100"),
]


def procurement_case(rng: random.Random, pins: Forced) -> Row:
    vendors = {v[0]: v for v in VENDORS}
    category = pins.get("category", lambda: weighted(rng, {k: v[0] for k, v in PROCUREMENT_CATEGORIES.items()}))
    _, low, high, preferred = PROCUREMENT_CATEGORIES[category]
    wanted_status = pins.get("vendor_status", lambda: None)
    if wanted_status is None:
        vendor_id = rng.choice(preferred)
        if vendors[vendor_id][3] == "blocked" and rng.random() < 0.6:
            vendor_id = preferred[0]  # most requesters pick the usual supplier
    else:
        candidates = [v for v in preferred if vendors[v][3] == wanted_status]
        vendor_id = rng.choice(candidates or [v[0] for v in VENDORS if v[3] == wanted_status])
    _, vendor_name, vendor_country, vendor_status = vendors[vendor_id]
    department, cost_center = rng.choice(DEPARTMENTS)
    # Skewed towards the low end of the category's range: many small orders, a long tail of big ones.
    amount = round(pins.get("amount", lambda: low * (high / low) ** (rng.random() ** 1.7)), 2)
    over_budget = pins.get("over_budget", lambda: rng.random() < 0.1)
    if over_budget:
        budget_remaining = round(amount * rng.uniform(0.3, 0.97), 2)
    else:
        budget_remaining = round(amount * rng.uniform(1.05, 12.0) + rng.uniform(0, 20000), 2)
    budget_status = "over" if amount > budget_remaining else "ok"
    mismatch = pins.get("mismatch", lambda: rng.random() < 0.15)
    if mismatch:
        # Most mismatches are small price or freight differences; a few are real billing errors.
        variance_pct = pins.get("variance_pct", lambda: rng.choice([-1, 1]) * (
            rng.uniform(0.2, 2.0) if rng.random() < 0.7 else rng.uniform(2.5, 9.0)))
        invoice_amount = round(amount * (1 + variance_pct / 100), 2)
        if invoice_amount == amount:
            invoice_amount = round(amount + 0.5, 2)
        match_result = "mismatch"
        # AP accepts small price variances within tolerance and disputes the rest with the vendor.
        mismatch_resolution = "accept_variance" if abs(invoice_amount - amount) <= 0.02 * amount else "reject_invoice"
    else:
        invoice_amount = amount
        match_result = "match"
        mismatch_resolution = "none"
    return {
        "requester_id": f"E{rng.randint(10000, 39999)}",
        "department": department,
        "cost_center": cost_center,
        "category": category,
        "vendor_id": vendor_id,
        "vendor_name": vendor_name,
        "vendor_country": vendor_country,
        "currency": "EUR",
        "amount": money(amount),
        "budget_remaining": money(budget_remaining),
        "budget_status": budget_status,
        "vendor_status": vendor_status,
        "match_result": match_result,
        "invoice_amount": money(invoice_amount),
        "mismatch_resolution": mismatch_resolution,
    }


def procurement_route(case: dict[str, Any], t: Trace) -> Trace:
    """Purchase-to-pay rules: blocked vendors are refused; the line manager approves every request;
    above 10,000 EUR or above the remaining budget the CFO approves too; a mismatched invoice is
    either accepted within tolerance or disputed; matched or accepted invoices are posted and paid."""

    def intake_and_checks() -> None:
        t.visit("intake_request", "prechecks", "check_vendor", "check_budget", "prechecks_done", "precheck_gate")

    t.visit("start")
    intake_and_checks()
    if case["vendor_status"] == "blocked":
        t.take("precheck_gate", "vendor_blocked")
        return t.finish("vendor_blocked", "rejected_vendor")
    t.take("precheck_gate", "manager_approval")
    while True:
        t.visit("manager_approval", "manager_outcome")
        answer = t.ask("manager_approval")
        if answer == "send_back":
            t.take("manager_outcome", "intake_request")
            intake_and_checks()
            t.take("precheck_gate", "manager_approval")
            continue
        if answer != "approve":
            t.take("manager_outcome", "rejected")
            return t.finish("rejected", "rejected")
        needs_cfo = case["amount"] > 10000 or case["budget_status"] == "over"
        if needs_cfo:
            t.take("manager_outcome", "cfo_approval")
            t.visit("cfo_approval", "cfo_outcome")
            if t.ask("cfo_approval") != "approve":
                t.take("cfo_outcome", "rejected")
                return t.finish("rejected", "rejected")
            t.take("cfo_outcome", "create_po")
        else:
            t.take("manager_outcome", "create_po")
        break
    t.visit("create_po", "receive_goods", "three_way_match", "match_gate")
    if case["match_result"] == "mismatch":
        t.take("match_gate", "resolve_mismatch")
        t.visit("resolve_mismatch", "mismatch_gate")
        if case["mismatch_resolution"] == "reject_invoice":
            t.take("mismatch_gate", "invoice_disputed")
            return t.finish("invoice_disputed", "invoice_disputed")
        t.take("mismatch_gate", "post_invoice")
    else:
        t.take("match_gate", "post_invoice")
    t.visit("post_invoice", "release_payment")
    return t.finish("paid", "paid")


PROCUREMENT = TemplateData(
    name="procurement",
    seed=4201,
    prefix="PR",
    rate_per_hour=12,
    start=datetime(2024, 3, 4, 8, 0, tzinfo=timezone.utc),
    columns=[
        "case_id", "submitted_at", "arrival_s", "requester_id", "department", "cost_center", "category",
        "vendor_id", "vendor_name", "vendor_country", "currency", "amount", "budget_remaining",
        "budget_status", "vendor_status", "match_result", "invoice_amount", "mismatch_resolution",
    ],
    make_case=procurement_case,
    route=procurement_route,
    branches=[
        ("precheck_gate", "vendor_blocked"), ("precheck_gate", "manager_approval"),
        ("manager_outcome", "cfo_approval"), ("manager_outcome", "create_po"),
        ("manager_outcome", "intake_request"), ("manager_outcome", "rejected"),
        ("cfo_outcome", "create_po"), ("cfo_outcome", "rejected"),
        ("match_gate", "resolve_mismatch"), ("match_gate", "post_invoice"),
        ("mismatch_gate", "invoice_disputed"), ("mismatch_gate", "post_invoice"),
    ],
    scenarios=[
        Scenario("small order, manager approves, paid",
                 {"category": "office_supplies", "amount": 840.0, "vendor_status": "approved",
                  "over_budget": False, "mismatch": False},
                 [("manager_approval", "approve")]),
        Scenario("exactly 10,000 stays with the manager",
                 {"category": "it_hardware", "amount": 10000.0, "vendor_status": "approved",
                  "over_budget": False, "mismatch": False},
                 [("manager_approval", "approve")]),
        Scenario("just over 10,000 needs the CFO",
                 {"category": "it_hardware", "amount": 10000.01, "vendor_status": "approved",
                  "over_budget": False, "mismatch": False},
                 [("manager_approval", "approve"), ("cfo_approval", "approve")]),
        Scenario("large services order, CFO approves",
                 {"category": "professional_services", "amount": 86500.0, "vendor_status": "approved",
                  "over_budget": False, "mismatch": False},
                 [("manager_approval", "approve"), ("cfo_approval", "approve")]),
        Scenario("small but over budget, CFO approves",
                 {"category": "facilities", "amount": 3200.0, "vendor_status": "approved",
                  "over_budget": True, "mismatch": False},
                 [("manager_approval", "approve"), ("cfo_approval", "approve")]),
        Scenario("CFO rejects a large software deal",
                 {"category": "software_licences", "amount": 64000.0, "vendor_status": "approved",
                  "over_budget": False, "mismatch": False},
                 [("manager_approval", "approve"), ("cfo_approval", "reject")]),
        Scenario("manager rejects",
                 {"category": "marketing", "amount": 4600.0, "vendor_status": "approved",
                  "over_budget": False, "mismatch": False},
                 [("manager_approval", "reject")]),
        Scenario("manager sends back once, then approves",
                 {"category": "facilities", "amount": 7200.0, "vendor_status": "approved",
                  "over_budget": False, "mismatch": False},
                 [("manager_approval", "send_back"), ("manager_approval", "approve")]),
        Scenario("blocked vendor is refused before any approval",
                 {"category": "it_hardware", "amount": 2300.0, "vendor_status": "blocked"}),
        Scenario("new vendor, small invoice variance accepted",
                 {"category": "it_hardware", "amount": 5400.0, "vendor_status": "new",
                  "over_budget": False, "mismatch": True, "variance_pct": 1.2},
                 [("manager_approval", "approve")]),
        Scenario("large variance disputed with the vendor",
                 {"category": "production_materials", "amount": 24800.0, "vendor_status": "approved",
                  "over_budget": False, "mismatch": True, "variance_pct": 6.5},
                 [("manager_approval", "approve"), ("cfo_approval", "approve")]),
        Scenario("sent back, then CFO approves, then variance accepted",
                 {"category": "lab_equipment", "amount": 41000.0, "vendor_status": "approved",
                  "over_budget": False, "mismatch": True, "variance_pct": -0.8},
                 [("manager_approval", "send_back"), ("manager_approval", "approve"),
                  ("cfo_approval", "approve")]),
    ],
)


# =========================================================================== customer onboarding

ONBOARDING_COUNTRIES = {
    # country: (weight, country risk contribution)
    "GB": (78, 0.00), "IE": (4, 0.02), "FR": (3, 0.02), "DE": (3, 0.02), "ES": (2, 0.03),
    "PL": (2, 0.04), "IN": (2, 0.08), "US": (2, 0.04), "NG": (1, 0.22), "AE": (1, 0.18),
    "TR": (1, 0.15), "ZA": (1, 0.12),
}
OCCUPATIONS = {
    # occupation or industry: (weight, risk contribution)
    "salaried_employee": (40, 0.00), "civil_servant": (6, 0.00), "student": (10, 0.02),
    "retired": (8, 0.00), "healthcare_professional": (7, 0.00), "self_employed_trades": (8, 0.05),
    "property_investor": (3, 0.15), "jewellery_dealer": (1, 0.30), "unemployed": (4, 0.06),
}
INDUSTRIES = {
    "restaurant": (14, 0.08), "construction": (12, 0.10), "ecommerce": (16, 0.06),
    "consulting": (16, 0.03), "software": (12, 0.02), "retail_shop": (12, 0.06),
    "car_dealer": (4, 0.22), "money_services": (2, 0.40), "crypto_services": (2, 0.45),
    "charity": (3, 0.18), "import_export": (7, 0.20),
}


def onboarding_case(rng: random.Random, pins: Forced) -> Row:
    customer_type = pins.get("customer_type", lambda: weighted(
        rng, {"individual": 70, "sole_trader": 15, "small_business": 15}))
    business = customer_type != "individual"
    if business:
        product = weighted(rng, {"business_current_account": 80, "merchant_account": 20})
        activity = pins.get("activity", lambda: weighted(rng, {k: v[0] for k, v in INDUSTRIES.items()}))
        activity_risk = INDUSTRIES[activity][1]
    else:
        product = weighted(rng, {"current_account": 60, "savings_account": 25, "premium_current_account": 15})
        activity = pins.get("activity", lambda: weighted(rng, {k: v[0] for k, v in OCCUPATIONS.items()}))
        activity_risk = OCCUPATIONS[activity][1]
    channel = weighted(rng, {"mobile_app": 55, "web": 35, "branch": 10})
    country = pins.get("country", lambda: weighted(rng, {k: v[0] for k, v in ONBOARDING_COUNTRIES.items()}))
    nationality = country if rng.random() < 0.85 else weighted(rng, {k: v[0] for k, v in ONBOARDING_COUNTRIES.items()})
    if business:
        volume = pins.get("expected_monthly_volume", lambda: int(round(log_uniform(rng, 3000, 240000), -2)))
    else:
        volume = pins.get("expected_monthly_volume", lambda: int(round(log_uniform(rng, 500, 30000), -2)))
    docs_complete = pins.get("docs_complete", lambda: "no" if rng.random() < (0.3 if business else 0.15) else "yes")
    if docs_complete == "no":
        docs_received = pins.get("docs_received", lambda: "no" if rng.random() < 0.3 else "yes")
    else:
        docs_received = pins.get("docs_received", lambda: "yes")
    id_check = pins.get("id_check", lambda: "fail" if rng.random() < 0.04 else "pass")
    screening_result = pins.get("screening_result", lambda: "potential_match" if rng.random() < 0.06 else "clear")
    score = (0.08 + ONBOARDING_COUNTRIES[country][1] + activity_risk + min(volume / 400000, 0.25)
             + (0.15 if nationality != country else 0.0) + (0.2 if screening_result == "potential_match" else 0.0)
             + rng.gauss(0, 0.06))
    risk_score = pins.get("risk_score", lambda: round(min(max(score, 0.01), 0.99), 2))
    if business:
        age_years = rng.randint(0, 25)
    elif activity == "student":
        age_years = rng.randint(18, 27)
    elif activity == "retired":
        age_years = rng.randint(58, 92)
    else:
        age_years = rng.randint(21, 67)
    return {
        "customer_type": customer_type,
        "product": product,
        "channel": channel,
        "country": country,
        "nationality": nationality,
        "occupation_or_industry": activity,
        "customer_age_years": "" if business else str(age_years),
        "business_age_years": str(age_years) if business else "",
        "expected_monthly_volume": str(volume),
        "docs_complete": docs_complete,
        "docs_received": docs_received,
        "id_check": id_check,
        "screening_result": screening_result,
        "risk_score": f"{risk_score:.2f}",
    }


def onboarding_route(case: dict[str, Any], t: Trace) -> Trace:
    """KYC rules: missing documents are chased (no answer: abandoned); failed identity checks are
    declined; potential screening matches, risk scores of 0.7 or more and expected volumes above
    50,000 a month need enhanced due diligence and compliance approval; everyone else gets a
    four-eyes analyst review. A send-back from the analyst restarts the application."""
    t.visit("start")
    while True:
        t.visit("capture_application", "docs_gate")
        if case["docs_complete"] == "no":
            t.take("docs_gate", "chase_documents")
            t.visit("chase_documents", "chase_gate")
            if case["docs_received"] == "no":
                t.take("chase_gate", "abandoned")
                return t.finish("abandoned", "abandoned")
            t.take("chase_gate", "kyc_checks")
        else:
            t.take("docs_gate", "kyc_checks")
        t.visit("kyc_checks", "verify_identity", "screen_customer", "kyc_done", "score_risk", "risk_gate")
        if case["id_check"] == "fail":
            t.take("risk_gate", "declined")
            return t.finish("declined", "declined")
        high_risk = (case["screening_result"] == "potential_match" or case["risk_score"] >= 0.7
                     or case["expected_monthly_volume"] > 50000)
        if high_risk:
            t.take("risk_gate", "enhanced_due_diligence")
            while True:
                t.visit("enhanced_due_diligence", "compliance_approval", "compliance_gate")
                answer = t.ask("compliance_approval")
                if answer == "send_back":
                    t.take("compliance_gate", "enhanced_due_diligence")
                    continue
                break
            if answer != "approve":
                t.take("compliance_gate", "declined")
                return t.finish("declined", "declined")
            t.take("compliance_gate", "open_account")
            break
        t.take("risk_gate", "analyst_review")
        t.visit("analyst_review", "analyst_gate")
        answer = t.ask("analyst_review")
        if answer == "send_back":
            t.take("analyst_gate", "capture_application")
            continue
        if answer != "approve":
            t.take("analyst_gate", "declined")
            return t.finish("declined", "declined")
        t.take("analyst_gate", "open_account")
        break
    t.visit("open_account", "send_welcome_pack")
    return t.finish("onboarded", "onboarded")


ONBOARDING = TemplateData(
    name="customer_onboarding",
    seed=4202,
    prefix="ONB",
    rate_per_hour=20,
    start=datetime(2024, 4, 8, 7, 0, tzinfo=timezone.utc),
    columns=[
        "case_id", "submitted_at", "arrival_s", "customer_type", "product", "channel", "country",
        "nationality", "occupation_or_industry", "customer_age_years", "business_age_years",
        "expected_monthly_volume", "docs_complete", "docs_received", "id_check", "screening_result",
        "risk_score",
    ],
    make_case=onboarding_case,
    route=onboarding_route,
    branches=[
        ("docs_gate", "chase_documents"), ("docs_gate", "kyc_checks"),
        ("chase_gate", "abandoned"), ("chase_gate", "kyc_checks"),
        ("risk_gate", "declined"), ("risk_gate", "enhanced_due_diligence"), ("risk_gate", "analyst_review"),
        ("analyst_gate", "open_account"), ("analyst_gate", "capture_application"), ("analyst_gate", "declined"),
        ("compliance_gate", "open_account"), ("compliance_gate", "enhanced_due_diligence"),
        ("compliance_gate", "declined"),
    ],
    scenarios=[
        Scenario("straight-through individual, analyst approves",
                 {"customer_type": "individual", "activity": "salaried_employee", "country": "GB",
                  "expected_monthly_volume": 3200, "docs_complete": "yes", "id_check": "pass",
                  "screening_result": "clear", "risk_score": 0.18},
                 [("analyst_review", "approve")]),
        Scenario("analyst declines a low-risk file",
                 {"customer_type": "individual", "activity": "student", "country": "GB",
                  "expected_monthly_volume": 900, "docs_complete": "yes", "id_check": "pass",
                  "screening_result": "clear", "risk_score": 0.22},
                 [("analyst_review", "reject")]),
        Scenario("analyst sends back, rework, then approves",
                 {"customer_type": "sole_trader", "activity": "consulting", "country": "GB",
                  "expected_monthly_volume": 12000, "docs_complete": "yes", "id_check": "pass",
                  "screening_result": "clear", "risk_score": 0.31},
                 [("analyst_review", "send_back"), ("analyst_review", "approve")]),
        Scenario("documents chased and received",
                 {"customer_type": "small_business", "activity": "restaurant", "country": "GB",
                  "expected_monthly_volume": 28000, "docs_complete": "no", "docs_received": "yes",
                  "id_check": "pass", "screening_result": "clear", "risk_score": 0.35},
                 [("analyst_review", "approve")]),
        Scenario("documents never arrive",
                 {"customer_type": "small_business", "activity": "import_export", "country": "GB",
                  "docs_complete": "no", "docs_received": "no"}),
        Scenario("identity check fails",
                 {"customer_type": "individual", "activity": "salaried_employee", "country": "GB",
                  "docs_complete": "yes", "id_check": "fail", "screening_result": "clear",
                  "risk_score": 0.2}),
        Scenario("potential sanctions match, compliance approves after EDD",
                 {"customer_type": "individual", "activity": "property_investor", "country": "AE",
                  "expected_monthly_volume": 18000, "docs_complete": "yes", "id_check": "pass",
                  "screening_result": "potential_match", "risk_score": 0.55},
                 [("compliance_approval", "approve")]),
        Scenario("high risk score, compliance rejects",
                 {"customer_type": "small_business", "activity": "money_services", "country": "GB",
                  "expected_monthly_volume": 45000, "docs_complete": "yes", "id_check": "pass",
                  "screening_result": "clear", "risk_score": 0.81},
                 [("compliance_approval", "reject")]),
        Scenario("risk score exactly 0.70 counts as high risk",
                 {"customer_type": "sole_trader", "activity": "car_dealer", "country": "GB",
                  "expected_monthly_volume": 22000, "docs_complete": "yes", "id_check": "pass",
                  "screening_result": "clear", "risk_score": 0.7},
                 [("compliance_approval", "approve")]),
        Scenario("risk score 0.69 and volume exactly 50,000 stay standard",
                 {"customer_type": "small_business", "activity": "ecommerce", "country": "GB",
                  "expected_monthly_volume": 50000, "docs_complete": "yes", "id_check": "pass",
                  "screening_result": "clear", "risk_score": 0.69},
                 [("analyst_review", "approve")]),
        Scenario("high volume business, compliance asks for more EDD, then approves",
                 {"customer_type": "small_business", "activity": "software", "country": "GB",
                  "expected_monthly_volume": 180000, "docs_complete": "yes", "id_check": "pass",
                  "screening_result": "clear", "risk_score": 0.42},
                 [("compliance_approval", "send_back"), ("compliance_approval", "approve")]),
        Scenario("chased documents, then declined at compliance",
                 {"customer_type": "small_business", "activity": "crypto_services", "country": "GB",
                  "expected_monthly_volume": 95000, "docs_complete": "no", "docs_received": "yes",
                  "id_check": "pass", "screening_result": "clear", "risk_score": 0.88},
                 [("compliance_approval", "reject")]),
    ],
)


# =========================================================================== finance close

ENTITY_COUNTRIES = {
    # country: (weight, local currency, legal form)
    "US": (30, "USD", "Inc."), "GB": (12, "GBP", "Ltd"), "DE": (12, "EUR", "GmbH"), "FR": (8, "EUR", "SAS"),
    "NL": (6, "EUR", "B.V."), "CA": (6, "CAD", "Ltd"), "JP": (5, "JPY", "K.K."), "SG": (5, "SGD", "Pte. Ltd."),
    "BR": (4, "BRL", "Ltda."), "MX": (4, "MXN", "S.A. de C.V."), "IN": (4, "INR", "Pvt. Ltd."),
    "AU": (4, "AUD", "Pty Ltd"),
}
ENTITY_BUSINESSES = ["Holdings", "Manufacturing", "Distribution", "Services", "Software", "Logistics",
                     "Retail", "Finance", "Research", "Sales"]


def finance_case(rng: random.Random, pins: Forced) -> Row:
    country = weighted(rng, {k: v[0] for k, v in ENTITY_COUNTRIES.items()})
    _, currency, form = ENTITY_COUNTRIES[country]
    business = rng.choice(ENTITY_BUSINESSES)
    revenue = round(log_uniform(rng, 250000, 60000000), 2)
    bank_accounts = rng.randint(1, 14)
    ic_partners = rng.randint(0, 9)

    def variance(share_zero: float, scale: float) -> float:
        return 0.0 if rng.random() < share_zero else round(rng.expovariate(1 / scale), 2)

    bank_variance = round(pins.get("bank_variance", lambda: variance(0.7, 1400)), 2)
    ic_variance = round(pins.get("ic_variance", lambda: 0.0 if ic_partners == 0 else variance(0.55, 3800)), 2)
    subledger_variance = round(pins.get("subledger_variance", lambda: variance(0.75, 1100)), 2)
    adjustment_count = pins.get("adjustment_count", lambda: 0 if rng.random() < 0.18 else rng.randint(1, 28))
    if adjustment_count == 0:
        adjustment_total = 0.0
    else:
        adjustment_total = round(adjustment_count * log_uniform(rng, 800, revenue * 0.004 + 1000), 2)
    return {
        "entity_code": f"{country}{rng.randint(100, 999)}",
        "entity_name": f"Contoso {business} {country} {form}",
        "country": country,
        "local_currency": currency,
        "period": "2024-03",
        "monthly_revenue_usd": money(revenue),
        "bank_accounts": str(bank_accounts),
        "intercompany_partners": str(ic_partners),
        "bank_variance": money(bank_variance),
        "ic_variance": money(ic_variance),
        "subledger_variance": money(subledger_variance),
        "adjustment_count": str(adjustment_count),
        "adjustment_total": money(adjustment_total),
    }


def finance_route(case: dict[str, Any], t: Trace) -> Trace:
    """Close rules: unexplained variances (bank + intercompany + sub-ledger) above 5,000 USD are
    investigated; proposed adjustments are reviewed by an accounting manager before posting (no
    adjustments: straight to the close pack); the controller signs off before the period is locked.
    A rejection puts the close on hold; a send-back returns to the journal entries."""
    t.visit("start", "extract_trial_balance", "reconciliations", "reconcile_bank", "reconcile_intercompany",
            "reconcile_subledgers", "reconciliations_done", "variance_gate")
    unexplained = case["bank_variance"] + case["ic_variance"] + case["subledger_variance"]
    if unexplained > 5000:
        t.take("variance_gate", "investigate_variances")
        t.visit("investigate_variances")
    else:
        t.take("variance_gate", "draft_journal_entries")
    while True:
        t.visit("draft_journal_entries", "journal_gate")
        if case["adjustment_count"] == 0:
            t.take("journal_gate", "prepare_close_pack")
        else:
            t.take("journal_gate", "journal_review")
            t.visit("journal_review", "journal_review_gate")
            answer = t.ask("journal_review")
            if answer == "send_back":
                t.take("journal_review_gate", "draft_journal_entries")
                continue
            if answer != "approve":
                t.take("journal_review_gate", "close_on_hold")
                return t.finish("close_on_hold", "on_hold")
            t.take("journal_review_gate", "post_journal_entries")
            t.visit("post_journal_entries")
        t.visit("prepare_close_pack", "controller_signoff", "signoff_gate")
        answer = t.ask("controller_signoff")
        if answer == "send_back":
            t.take("signoff_gate", "draft_journal_entries")
            continue
        if answer != "approve":
            t.take("signoff_gate", "close_on_hold")
            return t.finish("close_on_hold", "on_hold")
        t.take("signoff_gate", "lock_period")
        break
    t.visit("lock_period")
    return t.finish("closed", "closed")


FINANCE = TemplateData(
    name="finance_close",
    seed=4203,
    prefix="FC",
    rate_per_hour=6,
    start=datetime(2024, 4, 1, 6, 0, tzinfo=timezone.utc),
    columns=[
        "case_id", "started_at", "arrival_s", "entity_code", "entity_name", "country", "local_currency",
        "period", "monthly_revenue_usd", "bank_accounts", "intercompany_partners", "bank_variance",
        "ic_variance", "subledger_variance", "adjustment_count", "adjustment_total",
    ],
    make_case=finance_case,
    route=finance_route,
    branches=[
        ("variance_gate", "investigate_variances"), ("variance_gate", "draft_journal_entries"),
        ("journal_gate", "prepare_close_pack"), ("journal_gate", "journal_review"),
        ("journal_review_gate", "post_journal_entries"), ("journal_review_gate", "draft_journal_entries"),
        ("journal_review_gate", "close_on_hold"),
        ("signoff_gate", "lock_period"), ("signoff_gate", "draft_journal_entries"),
        ("signoff_gate", "close_on_hold"),
    ],
    scenarios=[
        Scenario("clean close with adjustments",
                 {"bank_variance": 0.0, "ic_variance": 120.5, "subledger_variance": 0.0, "adjustment_count": 6},
                 [("journal_review", "approve"), ("controller_signoff", "approve")]),
        Scenario("no adjustments needed",
                 {"bank_variance": 0.0, "ic_variance": 0.0, "subledger_variance": 0.0, "adjustment_count": 0},
                 [("controller_signoff", "approve")]),
        Scenario("variances exactly 5,000 are within tolerance",
                 {"bank_variance": 2000.0, "ic_variance": 2000.0, "subledger_variance": 1000.0,
                  "adjustment_count": 3},
                 [("journal_review", "approve"), ("controller_signoff", "approve")]),
        Scenario("variances of 5,000.01 are investigated",
                 {"bank_variance": 2000.0, "ic_variance": 2000.0, "subledger_variance": 1000.01,
                  "adjustment_count": 3},
                 [("journal_review", "approve"), ("controller_signoff", "approve")]),
        Scenario("large intercompany break investigated",
                 {"bank_variance": 310.0, "ic_variance": 18450.75, "subledger_variance": 0.0,
                  "adjustment_count": 12},
                 [("journal_review", "approve"), ("controller_signoff", "approve")]),
        Scenario("manager sends the entries back once",
                 {"bank_variance": 0.0, "ic_variance": 0.0, "subledger_variance": 860.4, "adjustment_count": 9},
                 [("journal_review", "send_back"), ("journal_review", "approve"),
                  ("controller_signoff", "approve")]),
        Scenario("manager rejects the entries: close on hold",
                 {"bank_variance": 4200.0, "ic_variance": 2900.0, "subledger_variance": 0.0,
                  "adjustment_count": 17},
                 [("journal_review", "reject")]),
        Scenario("controller asks for more adjustments",
                 {"bank_variance": 0.0, "ic_variance": 640.0, "subledger_variance": 0.0, "adjustment_count": 4},
                 [("journal_review", "approve"), ("controller_signoff", "send_back"),
                  ("journal_review", "approve"), ("controller_signoff", "approve")]),
        Scenario("controller rejects the close",
                 {"bank_variance": 1500.0, "ic_variance": 0.0, "subledger_variance": 0.0, "adjustment_count": 2},
                 [("journal_review", "approve"), ("controller_signoff", "reject")]),
        Scenario("no adjustments, controller sends back, signed off on the second pass",
                 {"bank_variance": 0.0, "ic_variance": 0.0, "subledger_variance": 75.0, "adjustment_count": 0},
                 [("controller_signoff", "send_back"), ("controller_signoff", "approve")]),
    ],
)


# =========================================================================== maintenance work order

ASSET_CLASSES = {
    # class: (weight, hazard classes with weights, fault codes)
    "centrifugal_pump": (22, {"none": 70, "pressure": 30}, ["VIB-HIGH", "SEAL-LEAK", "BEARING-TEMP", "CAVITATION"]),
    "electric_motor": (16, {"none": 45, "electrical": 55},
                       ["OVERCURRENT", "WINDING-TEMP", "VIB-HIGH", "INSULATION-LOW"]),
    "air_compressor": (10, {"none": 40, "pressure": 60}, ["DISCHARGE-TEMP", "OIL-PRESSURE-LOW", "VIB-HIGH"]),
    "belt_conveyor": (14, {"none": 85, "working_at_height": 15}, ["BELT-MISALIGN", "MOTOR-TRIP", "ROLLER-NOISE"]),
    "steam_boiler": (6, {"pressure": 70, "hot_work": 30}, ["FLAME-FAILURE", "LOW-WATER", "TUBE-LEAK"]),
    "storage_tank": (6, {"confined_space": 75, "hot_work": 25}, ["LEVEL-SENSOR", "CORROSION", "VENT-BLOCKED"]),
    "switchgear": (8, {"electrical": 100}, ["BREAKER-TRIP", "HOTSPOT-IR", "PARTIAL-DISCHARGE"]),
    "rooftop_hvac": (10, {"none": 30, "working_at_height": 70}, ["REFRIGERANT-LOW", "FAN-FAIL", "FILTER-DP-HIGH"]),
    "cnc_machine": (8, {"none": 80, "electrical": 20}, ["SPINDLE-VIB", "COOLANT-LOW", "AXIS-FAULT"]),
}
SITES = {"HOU-PLANT-1": 40, "BTR-TERMINAL": 20, "TUL-COMPRESSOR-STN": 15, "DAL-DC-2": 25}


def maintenance_case(rng: random.Random, pins: Forced) -> Row:
    asset_class = pins.get("asset_class", lambda: weighted(rng, {k: v[0] for k, v in ASSET_CLASSES.items()}))
    _, hazards, fault_codes = ASSET_CLASSES[asset_class]
    site = weighted(rng, SITES)
    criticality = weighted(rng, {"A": 25, "B": 45, "C": 30})
    source = weighted(rng, {"iot_alarm": 55, "operator_report": 30, "inspection": 15})
    severity_weights = {"none": 10, "low": 25, "medium": 35, "high": 22, "critical": 8}
    if criticality == "A":
        severity_weights = {"none": 8, "low": 15, "medium": 32, "high": 30, "critical": 15}
    fault_severity = pins.get("fault_severity", lambda: weighted(rng, severity_weights))
    hazard_class = pins.get("hazard_class", lambda: weighted(rng, hazards))
    parts_available = pins.get("parts_available", lambda: "no" if rng.random() < 0.25 else "yes")
    hours = {"none": 0.0, "low": 1.5, "medium": 3.0, "high": 6.0, "critical": 10.0}[fault_severity]
    estimated_repair_hours = round(hours * rng.uniform(0.5, 1.8), 1) if hours else 0.0
    downtime_cost = {"A": 12000, "B": 3500, "C": 600}[criticality]
    return {
        "site": site,
        "asset_id": f"{site.split('-')[0]}-{asset_class.split('_')[0][:4].upper()}-{rng.randint(100, 999)}",
        "asset_class": asset_class,
        "asset_criticality": criticality,
        "source": source,
        "fault_code": rng.choice(fault_codes),
        "fault_severity": fault_severity,
        "hazard_class": hazard_class,
        "parts_available": parts_available,
        "estimated_repair_hours": f"{estimated_repair_hours:.1f}",
        "downtime_cost_per_hour_usd": str(int(downtime_cost * rng.uniform(0.7, 1.3))),
    }


def maintenance_route(case: dict[str, Any], t: Trace) -> Trace:
    """Maintenance rules: false alarms are closed, low-severity faults go to the backlog; otherwise a
    work order is raised while parts are reserved and a technician booked; missing parts are ordered;
    any hazard (or a critical fault) needs a permit to work before the asset is isolated; the
    technician repairs and the work order is closed. A refused permit postpones the job to a
    planned shutdown; a send-back replans the job."""
    t.visit("start", "triage_fault", "validate_triage", "severity_gate")
    severity = case["fault_severity"]
    if severity == "none":
        t.take("severity_gate", "no_fault")
        return t.finish("no_fault", "no_fault_found")
    if severity == "low":
        t.take("severity_gate", "log_backlog")
        t.visit("log_backlog")
        return t.finish("backlogged", "backlogged")
    t.take("severity_gate", "create_work_order")
    while True:
        t.visit("create_work_order", "prepare_job", "reserve_parts", "schedule_technician", "job_prepared",
                "parts_gate")
        if case["parts_available"] == "no":
            t.take("parts_gate", "order_parts")
            t.visit("order_parts")
        else:
            t.take("parts_gate", "hazard_gate")
        t.visit("hazard_gate")
        if case["hazard_class"] != "none" or severity == "critical":
            t.take("hazard_gate", "safety_approval")
            t.visit("safety_approval", "safety_gate")
            answer = t.ask("safety_approval")
            if answer == "send_back":
                t.take("safety_gate", "create_work_order")
                continue
            if answer != "approve":
                t.take("safety_gate", "postponed")
                return t.finish("postponed", "postponed")
            t.take("safety_gate", "isolate_asset")
            t.visit("isolate_asset")
        else:
            t.take("hazard_gate", "dispatch_technician")
        break
    t.visit("dispatch_technician", "perform_repair", "close_work_order")
    return t.finish("repaired", "repaired")


MAINTENANCE = TemplateData(
    name="maintenance_work_order",
    seed=4204,
    prefix="FR",
    rate_per_hour=4,
    start=datetime(2024, 5, 6, 5, 0, tzinfo=timezone.utc),
    columns=[
        "case_id", "reported_at", "arrival_s", "site", "asset_id", "asset_class", "asset_criticality",
        "source", "fault_code", "fault_severity", "hazard_class", "parts_available",
        "estimated_repair_hours", "downtime_cost_per_hour_usd",
    ],
    make_case=maintenance_case,
    route=maintenance_route,
    branches=[
        ("severity_gate", "no_fault"), ("severity_gate", "log_backlog"), ("severity_gate", "create_work_order"),
        ("parts_gate", "order_parts"), ("parts_gate", "hazard_gate"),
        ("hazard_gate", "safety_approval"), ("hazard_gate", "dispatch_technician"),
        ("safety_gate", "isolate_asset"), ("safety_gate", "create_work_order"), ("safety_gate", "postponed"),
    ],
    scenarios=[
        Scenario("false alarm", {"asset_class": "centrifugal_pump", "fault_severity": "none", "hazard_class": "none"}),
        Scenario("low severity to the backlog",
                 {"asset_class": "belt_conveyor", "fault_severity": "low", "hazard_class": "none"}),
        Scenario("routine repair, parts in stock",
                 {"asset_class": "belt_conveyor", "fault_severity": "medium", "hazard_class": "none",
                  "parts_available": "yes"}),
        Scenario("routine repair, parts ordered",
                 {"asset_class": "cnc_machine", "fault_severity": "high", "hazard_class": "none",
                  "parts_available": "no"}),
        Scenario("electrical hazard, permit issued",
                 {"asset_class": "switchgear", "fault_severity": "high", "hazard_class": "electrical",
                  "parts_available": "yes"},
                 [("safety_approval", "approve")]),
        Scenario("critical fault without a hazard class still needs a permit",
                 {"asset_class": "centrifugal_pump", "fault_severity": "critical", "hazard_class": "none",
                  "parts_available": "yes"},
                 [("safety_approval", "approve")]),
        Scenario("confined space, parts ordered, permit refused",
                 {"asset_class": "storage_tank", "fault_severity": "medium", "hazard_class": "confined_space",
                  "parts_available": "no"},
                 [("safety_approval", "reject")]),
        Scenario("pressure hazard, job replanned once, then permit issued",
                 {"asset_class": "steam_boiler", "fault_severity": "high", "hazard_class": "pressure",
                  "parts_available": "yes"},
                 [("safety_approval", "send_back"), ("safety_approval", "approve")]),
        Scenario("work at height, parts ordered, permit issued",
                 {"asset_class": "rooftop_hvac", "fault_severity": "medium", "hazard_class": "working_at_height",
                  "parts_available": "no"},
                 [("safety_approval", "approve")]),
    ],
)


# =========================================================================== support triage

SUPPORT_CATEGORIES = {
    # category: (weight, subjects)
    "how_to": (28, ["How do I export my invoices?", "Setting up two-factor sign-in",
                    "Where can I change my delivery address?", "Can I share my workspace with a colleague?"]),
    "billing": (16, ["Charged twice this month", "VAT number missing on invoice", "Update my card details",
                     "Why did my plan price change?"]),
    "account_access": (11, ["Locked out after password reset", "Cannot receive the sign-in code",
                            "Account shows as suspended"]),
    "bug": (14, ["Dashboard does not load", "Export to CSV is empty", "Mobile app crashes on start",
                 "Sync stopped working"]),
    "outage": (4, ["Service down for our whole team", "API returning 503 errors", "Cannot log in - all users"]),
    "refund": (15, ["Please refund my annual plan", "Refund for a cancelled order", "Charged after cancelling",
                    "Item arrived damaged - refund please"]),
    "spam": (12, ["Boost your SEO ranking today", "Partnership opportunity!!!", "You have won a prize"]),
}


def support_case(rng: random.Random, pins: Forced) -> Row:
    category = pins.get("category", lambda: weighted(rng, {k: v[0] for k, v in SUPPORT_CATEGORIES.items()}))
    subject = rng.choice(SUPPORT_CATEGORIES[category][1])
    channel = weighted(rng, {"email": 45, "chat": 30, "web_form": 20, "phone": 5})
    language = weighted(rng, {"en": 70, "de": 10, "fr": 8, "es": 7, "nl": 5})
    customer_tier = pins.get("customer_tier", lambda: weighted(rng, {"free": 40, "pro": 45, "enterprise": 15}))
    if category == "spam":
        customer_tier = "unknown"
    product = weighted(rng, {"web_app": 55, "mobile_app": 25, "api": 10, "hardware_store": 10})
    if category == "outage":
        priority_weights = {"high": 30, "urgent": 70}
    elif category == "bug":
        priority_weights = {"normal": 40, "high": 35, "urgent": 25}
    elif category == "spam":
        priority_weights = {"low": 100}
    else:
        priority_weights = {"low": 30, "normal": 55, "high": 15}
    priority = pins.get("priority", lambda: weighted(rng, priority_weights))
    sentiment = weighted(rng, {"negative": 35, "neutral": 50, "positive": 15})
    if category == "outage":
        sentiment = "negative"
    order_value = round({"free": 0.0, "pro": rng.uniform(12, 480), "enterprise": rng.uniform(900, 24000),
                         "unknown": 0.0}[customer_tier], 2)
    confidence_base = {"how_to": 0.86, "billing": 0.78, "account_access": 0.8, "bug": 0.62}.get(category, 0.5)
    answer_confidence = pins.get("answer_confidence",
                                 lambda: round(min(max(rng.gauss(confidence_base, 0.1), 0.05), 0.99), 2))
    tier2_outcome = pins.get("tier2_outcome", lambda: "refund" if (
        category in ("billing", "outage") and rng.random() < 0.25) else "resolved")
    wants_money = category == "refund" or tier2_outcome == "refund"
    if wants_money:
        base = order_value if order_value > 0 else rng.uniform(9, 60)
        refund_amount = round(pins.get("refund_amount", lambda: base * rng.choice([1.0, 1.0, 0.5, 0.25])), 2)
        refund_eligible = pins.get("refund_eligible", lambda: "yes" if (
            tier2_outcome == "refund" or rng.random() < 0.72) else "no")
    else:
        refund_amount = 0.0
        refund_eligible = pins.get("refund_eligible", lambda: "no")
    return {
        "channel": channel,
        "language": language,
        "customer_tier": customer_tier,
        "product": product,
        "subject": subject,
        "category": category,
        "priority": priority,
        "sentiment": sentiment,
        "order_value": money(order_value),
        "refund_amount": money(refund_amount),
        "answer_confidence": f"{answer_confidence:.2f}",
        "tier2_outcome": tier2_outcome,
        "refund_eligible": refund_eligible,
    }


def support_route(case: dict[str, Any], t: Trace) -> Trace:
    """Support rules: spam is closed; refund requests are assessed; outages and urgent bugs go to
    tier 2; everything else gets a knowledge-base answer, handed to tier 2 below 0.75 confidence.
    Tier 2 may grant a goodwill refund. Eligible refunds need a team lead's approval before they are
    paid. Every other case ends with a written, guardrail-checked reply."""

    def refund_flow() -> None:
        while True:
            t.visit("assess_refund", "refund_gate")
            if case["refund_eligible"] == "no":
                t.take("refund_gate", "write_reply")
                return
            t.take("refund_gate", "refund_approval")
            t.visit("refund_approval", "refund_approval_gate")
            answer = t.ask("refund_approval")
            if answer == "send_back":
                t.take("refund_approval_gate", "assess_refund")
                continue
            if answer == "approve":
                t.take("refund_approval_gate", "pay_refund")
                t.visit("pay_refund")
            else:
                t.take("refund_approval_gate", "write_reply")
            return

    def tier2() -> None:
        t.visit("tier2_investigation", "tier2_gate")
        if case["tier2_outcome"] == "refund":
            t.take("tier2_gate", "assess_refund")
            refund_flow()
        else:
            t.take("tier2_gate", "write_reply")

    t.visit("start", "classify_ticket", "route_ticket")
    category = case["category"]
    if category == "spam":
        t.take("route_ticket", "closed_spam")
        return t.finish("closed_spam", "closed_no_action")
    if category == "refund":
        t.take("route_ticket", "assess_refund")
        refund_flow()
    elif category == "outage" or (category == "bug" and case["priority"] == "urgent"):
        t.take("route_ticket", "tier2_investigation")
        tier2()
    else:
        t.take("route_ticket", "search_kb")
        t.visit("search_kb", "confidence_gate")
        if case["answer_confidence"] < 0.75:
            t.take("confidence_gate", "tier2_investigation")
            tier2()
        else:
            t.take("confidence_gate", "write_reply")
    t.visit("write_reply", "check_reply", "send_reply")
    return t.finish("resolved", "resolved")


SUPPORT = TemplateData(
    name="support_triage",
    seed=4205,
    prefix="TCK",
    rate_per_hour=30,
    start=datetime(2024, 6, 3, 7, 0, tzinfo=timezone.utc),
    columns=[
        "case_id", "created_at", "arrival_s", "channel", "language", "customer_tier", "product", "subject",
        "category", "priority", "sentiment", "order_value", "refund_amount", "answer_confidence",
        "tier2_outcome", "refund_eligible",
    ],
    make_case=support_case,
    route=support_route,
    branches=[
        ("route_ticket", "closed_spam"), ("route_ticket", "assess_refund"),
        ("route_ticket", "tier2_investigation"), ("route_ticket", "search_kb"),
        ("confidence_gate", "tier2_investigation"), ("confidence_gate", "write_reply"),
        ("tier2_gate", "assess_refund"), ("tier2_gate", "write_reply"),
        ("refund_gate", "write_reply"), ("refund_gate", "refund_approval"),
        ("refund_approval_gate", "pay_refund"), ("refund_approval_gate", "assess_refund"),
        ("refund_approval_gate", "write_reply"),
    ],
    scenarios=[
        Scenario("spam closed", {"category": "spam"}),
        Scenario("how-to answered from the knowledge base",
                 {"category": "how_to", "priority": "normal", "answer_confidence": 0.91}),
        Scenario("confidence exactly 0.75 is enough",
                 {"category": "billing", "priority": "normal", "answer_confidence": 0.75}),
        Scenario("low confidence goes to tier 2",
                 {"category": "account_access", "priority": "high", "answer_confidence": 0.74,
                  "tier2_outcome": "resolved"}),
        Scenario("outage straight to tier 2",
                 {"category": "outage", "priority": "urgent", "tier2_outcome": "resolved"}),
        Scenario("urgent bug straight to tier 2",
                 {"category": "bug", "priority": "urgent", "tier2_outcome": "resolved"}),
        Scenario("high (not urgent) bug tries the knowledge base first",
                 {"category": "bug", "priority": "high", "answer_confidence": 0.82}),
        Scenario("refund approved and paid",
                 {"category": "refund", "customer_tier": "pro", "refund_eligible": "yes"},
                 [("refund_approval", "approve")]),
        Scenario("refund not eligible",
                 {"category": "refund", "customer_tier": "free", "refund_eligible": "no"}),
        Scenario("team lead refuses the refund",
                 {"category": "refund", "customer_tier": "pro", "refund_eligible": "yes"},
                 [("refund_approval", "reject")]),
        Scenario("refund sent back for reassessment, then approved",
                 {"category": "refund", "customer_tier": "enterprise", "refund_eligible": "yes"},
                 [("refund_approval", "send_back"), ("refund_approval", "approve")]),
        Scenario("billing dispute: tier 2 grants a goodwill refund",
                 {"category": "billing", "priority": "high", "answer_confidence": 0.41,
                  "tier2_outcome": "refund", "customer_tier": "enterprise"},
                 [("refund_approval", "approve")]),
        Scenario("outage credit via tier 2, team lead refuses",
                 {"category": "outage", "priority": "urgent", "tier2_outcome": "refund", "customer_tier": "pro"},
                 [("refund_approval", "reject")]),
    ],
)

TEMPLATES: dict[str, TemplateData] = {
    t.name: t for t in (ONBOARDING, FINANCE, MAINTENANCE, PROCUREMENT, SUPPORT)
}


# =========================================================================== generation


def typed(row: Row) -> dict[str, Any]:
    return {key: coerce(value) for key, value in row.items()}


def build_row(spec: TemplateData, rng: random.Random, case_id: str, *, moment: datetime, offset: int,  # noqa: PLR0913 - each keyword is one input of a generated row
              pins: Forced) -> Row:
    time_column = spec.columns[1]
    row: Row = {"case_id": case_id, time_column: iso(moment), "arrival_s": str(offset)}
    row.update(spec.make_case(rng, pins))
    missing = [c for c in spec.columns if c not in row]
    extra = [c for c in row if c not in spec.columns]
    if missing or extra:
        raise AssertionError(f"{spec.name}: row columns differ (missing {missing}, extra {extra})")
    return {c: row[c] for c in spec.columns}


def generate_sample(spec: TemplateData) -> list[Row]:
    rng = random.Random(spec.seed)
    rows = []
    for number, (moment, offset) in enumerate(arrivals(rng, spec.start, spec.rate_per_hour, SAMPLE_ROWS), 1):
        row = build_row(spec, rng, f"{spec.prefix}-{number:05d}", moment=moment, offset=offset, pins=Forced({}))
        spec.route(typed(row), Trace(always_approve))  # every sample case must route cleanly
        rows.append(row)
    return rows


def generate_gold(spec: TemplateData) -> list[Row]:
    rng = random.Random(spec.seed + 1000)
    rows: list[Row] = []
    taken: set[tuple[str, str]] = set()
    times = arrivals(rng, spec.start, spec.rate_per_hour, GOLD_ROWS)
    scenarios: list[Scenario | None] = [*spec.scenarios, *([None] * (GOLD_ROWS - len(spec.scenarios)))]
    for number, ((moment, offset), scenario) in enumerate(zip(times, scenarios, strict=True), 1):
        case_id = f"{spec.prefix}-G{number:03d}"
        pins = Forced(scenario.pins if scenario else {})
        row = build_row(spec, rng, case_id, moment=moment, offset=offset, pins=pins)
        pins.check_used(f"{spec.name} {case_id}")
        if scenario is not None:
            answers: Callable[[str], str] = Scripted(scenario.answers, f"{spec.name} {case_id} ({scenario.note})")
        else:
            answers = RandomAnswers(rng)
        trace = spec.route(typed(row), Trace(answers))
        if isinstance(answers, Scripted):
            answers.done()
        taken |= trace.taken
        row["human_decisions"] = ";".join(f"{a}={d}" for a, d in trace.decisions)
        row["expected_path"] = ">".join(trace.path)
        row["expected_outcome"] = trace.outcome
        rows.append(row)
    uncovered = [b for b in spec.branches if b not in taken]
    unknown = sorted(taken - set(spec.branches))
    if uncovered or unknown:
        raise AssertionError(f"{spec.name}: gold cases miss branches {uncovered}; unlisted branches {unknown}")
    return rows


def to_csv(rows: list[Row], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def render(spec: TemplateData) -> dict[Path, str]:
    folder = TEMPLATES_DIR / spec.name
    return {
        folder / "sample.csv": to_csv(generate_sample(spec), spec.columns),
        folder / "gold.csv": to_csv(generate_gold(spec), [*spec.columns, *GOLD_COLUMNS]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("templates", nargs="*", metavar="TEMPLATE",
                        help=f"templates to generate (default: all of {', '.join(sorted(TEMPLATES))})")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a committed file differs from what would be generated")
    args = parser.parse_args(argv)
    unknown = [name for name in args.templates if name not in TEMPLATES]
    if unknown:
        parser.error(f"unknown template(s): {', '.join(unknown)}; choose from {', '.join(sorted(TEMPLATES))}")
    stale = []
    for name in args.templates or sorted(TEMPLATES):
        for path, text in render(TEMPLATES[name]).items():
            shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            if args.check:
                current = path.read_text(encoding="utf-8") if path.is_file() else None
                if current != text:
                    stale.append(shown)
                    print(f"out of date: {shown}", file=sys.stderr)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8", newline="")
                print(f"wrote {shown} ({text.count(chr(10)) - 1} cases)")
    if stale:
        print("run `python scripts/generate_template_data.py` to regenerate", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
