# mistral-lab: `make lab-test` (the main job) and `make test`. Both bootstrap .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LAB := $(BIN)/mistral-lab

.PHONY: install doctor test test-unit lab-test lab-smoke bench-checker bench-cluster bench-workloads bench soak hunt \
	findings findings-bundles findings-patch-check patches-check patches-bench patches-map patches-unit-tests workflow-examples clean-labs shrink-test multihost-test bench-test map map-quick \
	versions gate-tools gate-lint gate-test

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Every prerequisite of a run (Docker, Compose, base image route, disk, kernel features), each with its fix.
doctor: install
	$(LAB) doctor

# Everything: unit tests, packaging (wheel install), validation histories, and integration tests against real containers.
# gate-tools: the OpenStack gate's tests (ansible-lint, Zuul's config loader) are part of it.
test: install gate-tools
	$(BIN)/pytest -q

# Only what needs neither Docker nor the network (about a minute).
test-unit: install
	$(BIN)/pytest -q -m "not docker and not network and not packaging"

# The default laptop run before a commit. The doctor goes first: a missing prerequisite names its fix before
# anything is built.
lab-test: install
	$(LAB) doctor
	$(LAB) run lab-test

lab-smoke: install
	$(BIN)/python -m lab.smoke

bench-checker: install
	$(BIN)/python -m checker.bench

bench-cluster: install
	$(BIN)/python -m lab.bench.cluster_timing

bench-workloads: install
	$(BIN)/python -m workloads.bench

# Reference workflows across topologies (4-6 min on 2 cores); writes bench.json, bench.html, bench.png.
bench: install
	$(LAB) bench --workflows sequence,parallel,with-items --topologies 1x1x1,1x2x2 --n 5 --repeat 3 --out bench.json

# Nightly soak: randomized seeded tests; failing runs are kept in store/.
soak: install
	$(LAB) soak --duration $(or $(DURATION),8h)

# Hunting for new defects: the fault-heavy specs (scale-down, joins under several engines, cron, policies, broker
# and DB outages inside the heartbeat window, in-process rpc faults, clock skew) over seeded draws. A defect that
# matches no finding fails its run and is kept in store/ with NEW in soak-summary.html; catalogue it from there.
# VERSION=20.2.0 hunts on another release (installed with its series' upper-constraints).
HUNT_TESTS ?= scale-churn,chaos,cron-churn,retry-duplicate,db-outage,broker-outage,partition-engines
HUNT_TESTS += rpc-lost-run-action rpc-lost-action-complete rpc-duplicate-run-action rpc-executor-crash
HUNT_TESTS += rpc-engine-crash-start-workflow rpc-lost-heartbeats clock-skew
comma := ,
space := $(subst ,, )
hunt: install
	$(LAB) doctor
	$(LAB) soak --duration $(or $(DURATION),2h) --tests $(subst $(space),$(comma),$(strip $(HUNT_TESTS))) --seed $(or $(SEED),1) \
		$(if $(VERSION),--mistral-version $(VERSION))

# Replay every catalogued defect (findings/): TRIES tries asked (default 3), each on a fresh cluster; a try counts
# when its faults gate passed and it reached a verdict, an inconclusive one is replaced (at most TRIES extra).
# Prints per finding asked / conclusive / inconclusive / reproduced / required and the status with its rule;
# records tries and reproduced in findings/<id>.yaml only for a conclusive replay. Exit 1 when one is below its
# min_rate, 2 when one is inconclusive (and none below). IDS=... selects.
findings: install
	$(LAB) doctor
	$(LAB) findings $(IDS) --tries $(or $(TRIES),3) --record

# The protocol map (docs/protocol-map.md): every Mistral RPC method x side x action of the default Mistral
# version, one short seeded run per cell on a warm lab; map.json and map.html in OUT (default store/maps/<time>).
# OUT=dir goes on with the map in dir when it holds a map.json (cells done are skipped), else starts one there.
# map-quick: drop and crash-after on run_action, on_action_complete, start_task and start_workflow.
MAP_DIR = $(if $(OUT),$(if $(wildcard $(OUT)/map.json),--resume $(OUT),--out $(OUT)))
map: install
	$(LAB) doctor
	$(LAB) map $(MAP_DIR)

map-quick: install
	$(LAB) doctor
	$(LAB) map --quick $(MAP_DIR)

# The release matrix (docs/findings.md#the-release-matrix): every finding (IDS=... selects) replayed on each column
# of VERSIONS, TRIES tries asked per cell; OUT=dir resumes the matrix in dir when it holds a versions.json.
VERSIONS ?= 20.2.0,20.2.0+kombu,21.0.0,22.0.0,23.0.0
VERSIONS_DIR = $(if $(OUT),$(if $(wildcard $(OUT)/versions.json),--resume $(OUT),--out $(OUT)))
versions: install
	$(LAB) doctor
	$(LAB) findings $(IDS) --versions $(VERSIONS) $(if $(TRIES),--tries $(TRIES)) $(VERSIONS_DIR)

# Every example of lab/specs/workflows/ (one per DSL form) run as written, under its fault, each on a fresh lab
# (about 7 min on 2 cores); `make test` runs each form fault-free on the shared cluster.
workflow-examples: install
	$(LAB) doctor
	@failed=0; for spec in lab/specs/workflows/*.spec.yaml; do $(LAB) run $$spec || failed=1; done; exit $$failed

# One scrubbed tar.gz per finding (store/findings/<id>.tar.gz) from its newest stored run that shows it.
findings-bundles: install
	$(LAB) findings-bundles $(IDS)

# A candidate fix against its finding: fetch the finding's Mistral sdist on the host (cached), unpack it, apply
# findings/patches/$(PATCH).patch and replay PATCH (and ALSO="id ...") with --mistral-src on that tree, runs in
# store/patch-check/. Exit 0 when PATCH is gone; other defects in the patched runs are listed, not judged.
findings-patch-check: install
	$(LAB) doctor
	$(BIN)/python -m lab.findings.patches $(or $(PATCH),executor-sigterm-abandons-actions) \
		$(foreach id,$(ALSO),--also $(id)) --tries $(or $(TRIES),3)

# Every candidate fix at once (issue 27): findings/patches/*.patch applied in file-name order to one sdist tree,
# and every catalogued finding (IDS=... selects) replayed against it, TRIES tries asked (default 5). Resumes from
# store/patch-check/series-<digest>/series-<TRIES>-tries.json. Exit 0 when every finding is gone and shown gone
# (docs/patches.md), 1 when one is still there, 2 when one is inconclusive or not shown.
patches-check: install
	$(LAB) doctor
	$(BIN)/python -m lab.findings.patch_series $(IDS) --tries $(or $(TRIES),5)

# Mistral's own unit tests for the modules each candidate patch touches (issue 27), run on the series tree inside
# its Mistral image (docker run --cpus 0.5, no network; test wheels fetched on the host): the patches' own tests,
# the test modules importing a touched module and those named after one. PATCHES="id ..." runs single patches on
# their own trees instead; UNPATCHED=1 runs the same modules on the plain sdist (failures there are expected).
patches-unit-tests: install
	$(BIN)/python -m lab.findings.mistral_tests $(or $(PATCHES),--series) $(if $(UNPATCHED),--unpatched)

# What the series costs: `make bench`'s workflows at 1x2x2 on the release, then on the series tree, back to back,
# and bench-compare (exit 1 when the series is slower beyond the repeats' noise). Results in store/patch-check/bench/.
PATCH_BENCH = $(LAB) bench --workflows sequence,parallel,with-items --topologies 1x2x2 --n 5 --repeat 3
patches-bench: install
	$(LAB) doctor
	mkdir -p store/patch-check/bench
	$(PATCH_BENCH) --out store/patch-check/bench/release.json
	$(PATCH_BENCH) --mistral-src "$$($(BIN)/python -m lab.findings.patch_series --tree-only)" \
		--out store/patch-check/bench/series.json
	$(LAB) bench-compare store/patch-check/bench/release.json store/patch-check/bench/series.json

# The protocol map's cells of the methods the patches touch (a drop and a crash right after handling, on the
# receiving side), on the series tree and on the release, each resumable in store/patch-check/map-{series,release}.
PATCH_MAP = $(LAB) map --methods run_action,on_action_complete,start_task,start_workflow --sides receive \
	--actions drop,crash-after
patches-map: install
	$(LAB) doctor
	$(PATCH_MAP) --mistral-src "$$($(BIN)/python -m lab.findings.patch_series --tree-only)" \
		$(if $(wildcard store/patch-check/map-series/map.json),--resume,--out) store/patch-check/map-series
	$(PATCH_MAP) $(if $(wildcard store/patch-check/map-release/map.json),--resume,--out) store/patch-check/map-release

# The benchmark across two topologies on one resized cluster (2-4 min; `make test` runs the one-topology test).
bench-test: install
	MISTRAL_LAB_BENCH_TEST=1 $(BIN)/pytest -q lab/tests/test_bench_integration.py

# `mistral-lab shrink` for real: a tiny run that shows a defect, shrunk with --budget 2 (three runs on fresh
# clusters, 7-15 min on 2 cores: too slow for `make test`, which skips it unless MISTRAL_LAB_SHRINK_TEST=1).
shrink-test: install
	MISTRAL_LAB_SHRINK_TEST=1 $(BIN)/pytest -q lab/tests/test_shrink_integration.py

# A real three-host swarm on this machine (root): three Docker engines in their own network namespaces, the
# lab on the manager through DOCKER_HOST, the workers through a hosts file; host-partition and host-drain.
multihost-test: install
	MISTRAL_LAB_MULTIHOST_TEST=1 $(BIN)/pytest -q lab/tests/test_swarm_multihost.py

# `inspect` and `recover --apply` on kept labs of replayed findings, against the completion checker, plus a healthy
# lab under load and the real `mistral` CLI (lab/tests/test_operators_integration.py; 11 min, up to 20 when a kind
# needs more seeds: outside `make test`, which skips it unless MISTRAL_LAB_OPERATORS_TEST=1). -s keeps each try's
# FIGURES line in the log.
.PHONY: operators-test
operators-test: install
	MISTRAL_LAB_OPERATORS_TEST=1 $(BIN)/pytest -q -s -rs lab/tests/test_operators_integration.py

clean-labs: install
	$(BIN)/python -c "from cluster.control import Cluster, list_labs; [Cluster(n).down() for n in list_labs()]"

# The OpenStack gate (docs/openstack-gate.md). Its tools (ansible-core, ansible-lint, zuul, tox) live in their own
# venv, not in .venv: zuul pins many libraries the lab also uses.
# .lab-cache/gate-tools is a link to one venv per requirements file and Python in the user's cache (about 1 min to
# make), so a fresh clone (CI) reuses it; it is made in place (a venv's scripts name their own path) and counts only
# once its .installed exists.
GATE_VENV := .lab-cache/gate-tools
GATE_BIN := $(GATE_VENV)/bin
GATE_KEY = $(shell cat tools/gate/requirements.txt | sha256sum | cut -c1-12)-$(shell $(PYTHON) -c 'import sys; print("py%d%d" % sys.version_info[:2])')
GATE_SHARED = $(or $(MISTRAL_LAB_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/mistral-lab)/gate-tools-$(GATE_KEY)
gate-tools: $(GATE_VENV)/.installed

$(GATE_VENV)/.installed: tools/gate/requirements.txt
	@if [ ! -f $(GATE_SHARED)/.installed ]; then \
		rm -rf $(GATE_SHARED) && $(PYTHON) -m venv $(GATE_SHARED) && \
		$(GATE_SHARED)/bin/pip install --quiet --upgrade pip && \
		$(GATE_SHARED)/bin/pip install --quiet -r tools/gate/requirements.txt && \
		touch $(GATE_SHARED)/.installed; \
	fi
	mkdir -p .lab-cache && rm -rf $(GATE_VENV) && ln -s $(GATE_SHARED) $(GATE_VENV)
	touch -h $(GATE_VENV)

# ansible-lint on the playbooks and role, .zuul.yaml through Zuul's own config loader, the post playbook on a
# made-up store (no Docker, a minute); `make test` runs these too.
gate-lint: install gate-tools
	$(BIN)/pytest -q tests/test_gate_config.py tests/test_gate_collect.py

# The Zuul job's pre, run and post playbooks on this machine (ansible-playbook, local connection) against the
# sdist of MISTRAL_VERSION as the change under test: lab-test, one finding replayed once, one map cell; the store in
# store/gate-test (as `make lab-test` leaves store/), the artifacts in .lab-cache/gate/job/work/logs. 10-15 min.
# GATE_VARS='name=json ...' sets job variables, e.g. GATE_VARS='mistral_lab_steps=["tests"]'.
gate-test: install gate-tools
	$(GATE_BIN)/python tools/gate/local_zuul.py --mistral-version $(or $(MISTRAL_VERSION),23.0.0) \
		$(foreach v,$(GATE_VARS),--var '$(v)')
