"""What the OpenAPI document cannot tell schemathesis about kpix's data.

JSON Schema describes one field at a time; a few of the server's rules
(docs/api.md) tie a field to another field or to the data in the database.
For the positive cases only (those schemathesis sends as schema-valid),
these hooks make the generated data follow those rules, so that a refusal
of a positive case still means that the document and the server disagree.
Negative cases are sent as generated; every operation and every check runs.

- An id in a body names a real object: `owner_id` an active user (the
  run's caller), `team_id` a team the caller may share with (the USER's
  team; none for the ADMIN run, which may delete any team), `user_id` a
  user of the organization (422 otherwise).
- A KPI's thresholds are ordered for its direction (UP_IS_BETTER: green >=
  orange >= red; DOWN_IS_BETTER the reverse), 422 otherwise; a PATCH that
  touches them is completed so that its result does not depend on the
  stored ones.
- A values range has `from` <= `to` (422 otherwise).
- A value's `period_end` must be the last day of the period its KPI's
  frequency gives `period_start`, which only the server knows: positive
  cases leave it out (it is optional) and keep `period_start`.
- An upload's options given both in the form and in the query string must
  agree (422 otherwise): positive cases give each in one place.

And one case is sent elsewhere, in every mode: an ADMIN run's PATCH of its
own account that would deactivate it or take its ADMIN role away (after it
created another ADMIN) would end the run's session, as a logout would; it
is sent to the organization's spare user instead, so the operation is
still tested with the same body and every check.
"""

import os

import schemathesis

CALLER_ID = os.environ["CONTRACT_CALLER_ID"]
TEAM_ID = os.environ.get("CONTRACT_TEAM_ID") or None
MEMBER_ID = os.environ["CONTRACT_MEMBER_ID"]
SPARE_ID = os.environ.get("CONTRACT_SPARE_ID") or None

THRESHOLDS = ("threshold_green", "threshold_orange", "threshold_red")


def _is_positive(case) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


def _real_ids(body: dict) -> None:
    for field, value in (("owner_id", CALLER_ID), ("team_id", TEAM_ID), ("user_id", MEMBER_ID)):
        if body.get(field) is not None:
            body[field] = value


def _locks_out_the_caller(case) -> bool:
    body = case.body if isinstance(case.body, dict) else {}
    return (
        (case.operation.method.upper(), case.operation.path) == ("PATCH", "/users/{id}")
        and (case.path_parameters or {}).get("id") == CALLER_ID
        and (body.get("is_active") is False or body.get("role") == "USER")
    )


def _ordered_thresholds(body: dict, complete: bool) -> None:
    if not complete and not any(k in body for k in ("direction", *THRESHOLDS)):
        return
    numbers = [body[k] for k in THRESHOLDS if isinstance(body.get(k), (int, float))]
    if not numbers:
        numbers = [0]
    direction = body.get("direction") or "UP_IS_BETTER"
    body["direction"] = direction
    # UP: green is the largest, red the smallest; DOWN the reverse
    ordered = sorted(numbers, reverse=direction == "UP_IS_BETTER")
    body["threshold_green"] = ordered[0]
    body["threshold_orange"] = ordered[1] if len(ordered) > 1 else ordered[0]
    body["threshold_red"] = ordered[2] if len(ordered) > 2 else None


@schemathesis.hook
def map_case(context, case):
    if SPARE_ID and _locks_out_the_caller(case):
        case.path_parameters["id"] = SPARE_ID
    if not _is_positive(case):
        return case
    method, path = case.operation.method.upper(), case.operation.path
    body = case.body if isinstance(case.body, dict) else None
    if body is not None:
        _real_ids(body)
        if (method, path) == ("POST", "/dashboards/{id}/kpis"):
            _ordered_thresholds(body, complete=True)
        elif (method, path) == ("PATCH", "/kpis/{id}"):
            _ordered_thresholds(body, complete=False)
        elif (method, path) == ("POST", "/kpis/{id}/values"):
            body.pop("period_end", None)
        elif (method, path) == ("POST", "/imports/kpi-values") and case.query:
            for name in ("dashboard_id", "mode", "dry_run"):
                if name in body:
                    case.query.pop(name, None)
    if path in ("/kpis/{id}/values", "/kpis/{id}/series") and case.query:
        start, end = case.query.get("from"), case.query.get("to")
        if start and end and start > end:
            case.query["from"], case.query["to"] = end, start
    return case
