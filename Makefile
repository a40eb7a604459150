# The README's two commands are `make demo` and `make test`. Both install what is missing first
# (Debian packages and podman settings, the pinned venv, the test host image) and are fast the second time.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3.11
VENV := .venv
STAMPS := .build/stamps
COLLECTION_LINK := .build/collections/ansible_collections/cloudburst/aws

export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export VIRTUAL_ENV := $(CURDIR)/$(VENV)

.PHONY: demo demo-clean test test-matrix release setup host venv image link sanity lint molecule clean

## demo: playbooks/site.yml on the local cloud: moto behind the rig's authorizing front (IAM's rules for every key
## but the administrator's), a checkip answer and the local cloud keep running in the background (tools/local-aws
## --start), so the cluster launched through the EC2 layer stays until demo-clean. The administrator's key only
## makes the restricted user; the Spark cluster is launched with the restricted user's key
## The nodes download the Spark archive (built from the PyPI pyspark sdist) from this machine's address on the
## demo subnet's podman network, as they would from Apache's mirror; the controller never uploads it.
demo: setup
	tools/local-aws --start --spark-archive "$$(tools/build-spark-archive)" \
	  --spark-mirror-subnet "$$(sed -n 's/^spark_ec2_subnet_cidr: *//p' playbooks/vars/demo.yml)"
	source .build/local-aws.env && ansible-playbook playbooks/site.yml -e @playbooks/vars/demo.yml

## demo-clean: destroy the demo's cluster through the EC2 layer with the restricted user's key (profile annex,
## which the demo wrote; the administrator's only if the demo stopped before making the user), then stop moto,
## its authorizing front and the local cloud (no container, network or process of the demo is left)
demo-clean: venv link
	rc=0; if [ -f .build/local-aws.env ]; then \
	  source .build/local-aws.env; \
	  if grep -qs '^\[annex\]' "$$AWS_SHARED_CREDENTIALS_FILE"; then export AWS_PROFILE=annex; fi; \
	  ansible-playbook playbooks/spark_ec2.yml -e @playbooks/vars/demo.yml -e spark_ec2_action=destroy || rc=$$?; \
	fi; tools/local-aws --stop || rc=$$?; exit $$rc

## test: every gate (sanity, ansible-lint, unit, integration, molecule); ends with pytest's summary. Two
## workers, each running whole test files, longest first (tests/conftest.py); three kept 2 cores 96% busy and took longer.
test: setup
	$(VENV)/bin/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder

## test-matrix: the support matrix in full: ansible-test sanity, the unit tests and one playbook per module family on
## every older ansible-core that requirements.txt's #matrix lines name (make test runs the oldest), each in its own
## venv under .build/matrix (tools/matrix-venv)
test-matrix: setup
	CLOUDBURST_MATRIX=all $(VENV)/bin/python -m pytest tests/gates/test_support_matrix.py

## release: the release tarball in .build/release, installed into an empty collections path beside only the declared
## dependencies and documented by FQCN there, after the changelog is linted (tools/release). A release is cut once with
## `antsibull-changelog release` and committed; this target never cuts one.
release: venv link
	$(VENV)/bin/python tools/release

## docs: the HTML docs site (every module, filter, role, playbook and guide); prints the page to open.
## It needs only the venv and the collection link, not podman.
.PHONY: docs
docs: venv link
	$(VENV)/bin/python tools/build-docs

setup: host venv link image matrix
	tools/prove-podman

## matrix: the venv of the oldest ansible-core of the support matrix (tests/gates/test_support_matrix.py)
.PHONY: matrix
matrix: venv
	$(VENV)/bin/python tools/matrix-venv --oldest

host: $(STAMPS)/host
$(STAMPS)/host: tools/setup-host tools/containers.conf
	tools/setup-host
	@mkdir -p $(STAMPS) && touch $@

venv: $(STAMPS)/venv
$(STAMPS)/venv: requirements.txt
	[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@mkdir -p $(STAMPS) && touch $@

link: $(COLLECTION_LINK)
$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../../.. $@

image: host
	tools/build-image

## Single gates, for working on one thing at a time.
sanity: setup
	$(VENV)/bin/python -m pytest tests/gates/test_sanity.py
lint: setup
	$(VENV)/bin/python -m pytest tests/gates/test_lint.py
molecule: setup
	$(VENV)/bin/python -m pytest tests/molecule

clean:
	rm -rf .build tests/output
