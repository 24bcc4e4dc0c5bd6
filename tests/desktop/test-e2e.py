#!/usr/bin/python3
"""End to end: the real desktop app against real medhead-node processes,
driven through the accessibility tree (AT-SPI, pyatspi).

1. A hub (medhead-node serve) holds the demo region and the reference
   scenario; a hospital desk station and an ambulance station are peered
   with it both ways (the hub pins them, they call it).
2. The app opens the desk station, a bed count is changed on the bed board,
   and the hub's REST API must report the new count, written by the desk.
3. The app opens the crew station; Find hospital must rank the reference
   scenario's expected hospital first.

Run as `/usr/bin/python3 test-e2e.py` (meson does). It starts its own X
server (Xvfb on a random free display, clear of xvfb-run -a) and its own
session bus (the AT-SPI bus is D-Bus activated on it; what its services
print stays out of the TAP). Prints TAP. Needs MEDHEAD_NODE_BIN,
MEDHEAD_APP_BIN and MEDHEAD_SOURCE_ROOT. Every process it starts is
stopped, even on failure.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_harness import (App, Session, StepFailed, SYNC_TIMEOUT, UI_TIMEOUT,  # noqa: E402
                         find_all, preflight, run_steps, text_of, wait_for)

STEPS = [
    "hub serves the region, peered with a desk and a crew station",
    "desk app shows its hospital's bed counts, received from the hub",
    "a bed count changed on the desk's bed board reaches the hub",
    "crew app ranks hospitals in Find hospital",
    "the first ranked hospital is the reference scenario's expected one",
]

# Hôpital de la Pitié-Salpêtrière in data/demo/region-idf.json.
DESK_HOSPITAL = "c05b6f66-3efe-57e1-9eb1-e7f8fd74cb49"
CATEGORY = "medical_surgical"
# The reference scenario's unit MH-AMB-01, at its test point.
CREW_UNIT = "5b93bfe6-16ce-5bf4-ab88-bb83e08915e8"
# docs/api.md: from the test point, cardiology + medical-surgical: Fred Brooks.
EXPECTED_FIRST = "Fred Brooks"

RESULT_NAME = re.compile(r", [0-9]+[.,][0-9] km, ")


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
        beds = session.api(f"/api/v1/hospitals/{DESK_HOSPITAL}")["beds"][CATEGORY]
        shared["before"] = beds["available"]
        return f"hub at {sync_url}, {CATEGORY} available={beds['available']}"

    def desk_shows_beds():
        desk = App(session, "desk", session.path("desk"))
        shared["desk"] = desk
        desk.select_tab("Beds")
        role = desk.pyatspi.ROLE_SPIN_BUTTON
        # The spin buttons are named "<category>: <field>" (mh-bed-board.c).
        spin = wait_for("the 'Medical-surgical: Available' spin button",
                        lambda: desk.find(role, "Medical-surgical: Available"), UI_TIMEOUT)
        shared["spin"] = spin
        wait_for(f"the desk to show the hub's count {shared['before']} (it shows "
                 f"{text_of(spin)!r})",
                 lambda: text_of(spin) == str(shared["before"]), SYNC_TIMEOUT)
        return f"shows {text_of(spin)}"

    def desk_change_reaches_hub():
        desk = shared["desk"]
        spin = shared["spin"]
        new = shared["before"] - 7 if shared["before"] >= 7 else shared["before"] + 7
        shared["new"] = new
        # A keyboard user: into the field, the new count, Enter applies the row.
        desk.click(spin, at_start=True)
        spin.queryEditableText().setTextContents(str(new))
        wait_for(f"the spin button to read {new}", lambda: text_of(spin) == str(new), 5)
        desk.key("Return")
        started = time.monotonic()

        def hub_has_it():
            beds = session.api(f"/api/v1/hospitals/{DESK_HOSPITAL}")["beds"][CATEGORY]
            shared["hub_beds"] = beds
            return beds["available"] == new
        try:
            wait_for(f"the hub to report {CATEGORY} available={new}", hub_has_it, SYNC_TIMEOUT)
        except StepFailed as e:
            raise StepFailed(f"{e}; the hub still has {shared.get('hub_beds')}")
        beds = shared["hub_beds"]
        if beds.get("reported_by") != "E2E desk":
            raise StepFailed(f"the count reached the hub but reported_by is "
                             f"{beds.get('reported_by')!r}, not 'E2E desk'")
        took = time.monotonic() - started
        desk.close()
        return f"{shared['before']} -> {new}, on the hub after {took:.1f} s"

    def crew_ranks():
        crew = App(session, "crew", session.path("crew"))
        shared["crew"] = crew
        role = crew.pyatspi
        crew.select_tab("Find Hospital")

        # The unit's position comes from the hub too: wait for the search to
        # start from it, not from the map centre.
        def position_from_unit():
            row = crew.find(role.ROLE_LIST_ITEM, "Position")
            labels = find_all(row, lambda a: a.getRole() == role.ROLE_LABEL)
            texts = [text_of(label) for label in labels]
            shared["position"] = texts
            return any("51.5074, -0.1278" in t for t in texts)
        try:
            wait_for("Find hospital to search from the unit's position", position_from_unit,
                     SYNC_TIMEOUT)
        except StepFailed as e:
            raise StepFailed(f"{e}; the position row reads {shared.get('position')}")

        def ranked():
            # Each result row is named "<rank>. <hospital>, <distance> km,
            # <free beds>"
            # (mh-find-view.c), inside a list item of the results list, in
            # rank order. The list reruns as the replica fills: take it once
            # two reads a second apart agree.
            def read():
                rows = find_all(crew.frame, lambda a: a.getRole() == role.ROLE_PANEL
                                and RESULT_NAME.search(a.name or "") is not None)
                return [r.name for r in rows]
            first = read()
            time.sleep(1)
            return first if first and read() == first else None
        results = wait_for("a ranked list in Find hospital", ranked, SYNC_TIMEOUT)
        distances = [float(RESULT_NAME.search(r).group(0)[2:-5].replace(",", "."))
                     for r in results]
        if distances != sorted(distances):
            raise StepFailed(f"results are not nearest first: {results}")
        # The rank, as on the result's pin on the map: 1, 2, 3...
        ranks = [r.split(". ", 1)[0] for r in results]
        if ranks != [str(i + 1) for i in range(len(results))]:
            raise StepFailed(f"results are not numbered in order: {results}")
        shared["results"] = results
        return f"{len(results)} results; first: {results[0]!r}"

    def first_is_expected():
        results = shared["results"]
        first = results[0].split(". ", 1)[1].split(", ")[0]
        if first != EXPECTED_FIRST:
            raise StepFailed(f"first ranked hospital is {first!r}, expected {EXPECTED_FIRST!r}; "
                             f"ranking: {results[:5]}")
        return results[0]

    return run_steps(session, STEPS, [set_up_network, desk_shows_beds, desk_change_reaches_hub,
                                      crew_ranks, first_is_expected])


if __name__ == "__main__":
    sys.exit(main())
