#!/usr/bin/python3
"""End to end: a transfer from a crew to a desk and the answer back, the
real desktop app against real medhead-node processes, driven through the
accessibility tree (AT-SPI, pyatspi).

1. A hub holds the demo region and the reference scenario; a desk station
   (Pitié-Salpêtrière) and a crew station (MH-AMB-01) are peered with it.
   The crew will announce to the reference scenario's first hospital, Fred
   Brooks; for the desk to answer, the desk station speaks for Fred Brooks.
2. The crew finds hospitals and picks Announce on the first result.
3. The crew fills the patient form (age, heart rate, GCS, ETA) and
   announces; the hub must hold the transfer with its observation.
4. The desk sees the incoming transfer and accepts it; the hub must hold
   the acceptance, written by the desk.
5. The crew's outgoing transfer shows Accepted.

The app is one instance per session bus, so the crew's app closes before
the desk's opens, and opens again for step 5.

Run as `/usr/bin/python3 test-e2e-transfer.py` (meson does). Prints TAP.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_harness import (App, Session, StepFailed, SYNC_TIMEOUT, UI_TIMEOUT,  # noqa: E402
                         find_one, preflight, run_steps, text_of, wait_for)

STEPS = [
    "hub serves the region, peered with a desk and a crew station",
    "crew finds hospitals and picks Announce on the first",
    "crew fills the patient form and announces; the transfer reaches the hub",
    "desk sees the incoming transfer and accepts it",
    "crew sees the acceptance",
]

# docs/api.md: from the test point, cardiology + medical-surgical: Fred Brooks.
DESK_HOSPITAL = "a8eb353e-d702-588f-bdfc-3756c19a6269"
HOSPITAL_NAME = "Fred Brooks"
CREW_UNIT = "5b93bfe6-16ce-5bf4-ab88-bb83e08915e8"


def main():
    status = preflight(STEPS)
    if status is not None:
        return status

    session = Session()
    shared = {}

    def set_up_network():
        sync_url = session.set_up_network(
            {"desk": ("--role", "hospital", "--hospital", DESK_HOSPITAL),
             "crew": ("--role", "ambulance", "--unit", CREW_UNIT)},
            ("region-idf.json", "reference-scenario.json"))
        return f"hub at {sync_url}"

    def crew_picks():
        crew = App(session, "crew", session.path("crew"))
        shared["crew"] = crew
        role = crew.pyatspi
        crew.select_tab("Find Hospital")
        name = f"Announce to {HOSPITAL_NAME}"

        def button():
            return find_one(crew.frame, lambda a: a.getRole() == role.ROLE_PUSH_BUTTON
                            and a.name == name)
        found = wait_for(f"a '{name}' button in the results", button, SYNC_TIMEOUT)
        found.queryAction().doAction(0)
        wait_for("the patient form to name the destination",
                 lambda: find_one(crew.frame, lambda a: a.getRole() == role.ROLE_LABEL
                                  and HOSPITAL_NAME in text_of(a)
                                  and a.name != name), UI_TIMEOUT)
        return name

    def crew_announces():
        crew = shared["crew"]
        role = crew.pyatspi

        def editable(a):
            try:
                a.queryEditableText()
                return True
            except NotImplementedError:
                return False

        def entry(label):
            # The entry named LABEL (mh-patient-form.c), or the text inside it.
            def named_so(a):
                try:
                    return (a.name or "").startswith(label) and a.getRole() != role.ROLE_LABEL
                except Exception:
                    return False

            def lookup():
                named = find_one(crew.frame, named_so)
                if named is None:
                    return None
                return named if editable(named) else find_one(named, editable)
            try:
                return wait_for(f"the '{label}' field", lookup, UI_TIMEOUT)
            except StepFailed as e:
                names = [f"{a.getRoleName()}:{a.name}" for a in
                         find_all(crew.frame, lambda a: "ETA" in (a.name or "")
                                  or "minutes" in (a.name or ""))]
                raise StepFailed(f"{e}; named like it: {names}")
        values = {"Age": "70", "Heart rate": "112", "GCS": "14", "ETA minutes": "12"}
        for label, value in values.items():
            field = entry(label)
            field.queryEditableText().setTextContents(value)
            wait_for(f"'{label}' to read {value}", lambda: text_of(field) == value, 5)
        announce = wait_for("the Announce button",
                            lambda: find_one(crew.frame, lambda a: a.getRole()
                                             == role.ROLE_PUSH_BUTTON
                                             and (a.name or "").startswith("Announce")
                                             and not a.name.startswith("Announce to")),
                            UI_TIMEOUT)
        announce.queryAction().doAction(0)

        def on_hub():
            transfers = session.api("/api/v1/transfers")
            return transfers[0] if len(transfers) == 1 else None
        transfer = wait_for("the transfer on the hub", on_hub, SYNC_TIMEOUT)
        if transfer["hospital_id"] != DESK_HOSPITAL:
            raise StepFailed(f"the transfer goes to {transfer['hospital_id']}")
        patient = wait_for("the patient with its observation on the hub",
                           lambda: (lambda p: p if p.get("observations") else None)(
                               session.api(f"/api/v1/patients/{transfer['patient_id']}")),
                           SYNC_TIMEOUT)
        obs = patient["observations"][0]
        if patient["age_estimate"] != 70 or obs["hr"] != 112 or obs["gcs"] != 14:
            raise StepFailed(f"the hub holds {patient}")
        shared["transfer"] = transfer
        # One instance per session bus (GApplication): the desk opens next.
        crew.close()
        return f"transfer {transfer['id']}, state {transfer['state']}"

    def desk_accepts():
        desk = App(session, "desk", session.path("desk"))
        shared["desk"] = desk
        role = desk.pyatspi
        desk.select_tab("Transfers")
        wait_for("the incoming transfer in the desk's list",
                 lambda: find_one(desk.frame, lambda a: a.getRole() == role.ROLE_LIST_ITEM
                                  and "70 y" in (a.name or "")), SYNC_TIMEOUT)
        accept = wait_for("an enabled Accept button",
                          lambda: find_one(desk.frame, lambda a: a.getRole()
                                           == role.ROLE_PUSH_BUTTON
                                           and (a.name or "").startswith("Accept")
                                           and a.getState().contains(role.STATE_SENSITIVE)),
                          UI_TIMEOUT)
        accept.queryAction().doAction(0)
        tid = shared["transfer"]["id"]

        def accepted():
            t = session.api(f"/api/v1/transfers/{tid}")
            shared["hub_transfer"] = t
            return t["desk_state"] == "accepted"
        try:
            wait_for("the hub to hold the acceptance", accepted, SYNC_TIMEOUT)
        except StepFailed as e:
            raise StepFailed(f"{e}; the hub has {shared.get('hub_transfer')}")
        if shared["hub_transfer"]["desk_by"] != "E2E desk":
            raise StepFailed(f"accepted by {shared['hub_transfer']['desk_by']!r}")
        desk.close()
        return "accepted by E2E desk"

    def crew_sees():
        crew = App(session, "crew", session.path("crew"))
        role = crew.pyatspi
        crew.select_tab("Transfers")
        item = wait_for("the crew's transfer to read Accepted",
                        lambda: find_one(crew.frame, lambda a: a.getRole() == role.ROLE_LIST_ITEM
                                         and HOSPITAL_NAME in (a.name or "")
                                         and "Accepted" in (a.name or "")), SYNC_TIMEOUT)
        return item.name

    return run_steps(session, STEPS, [set_up_network, crew_picks, crew_announces, desk_accepts,
                                      crew_sees])


if __name__ == "__main__":
    sys.exit(main())
