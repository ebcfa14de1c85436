# deploy/deploy.mk: the deploy tool's targets (included by the top Makefile).
#   make test-deploy   deploy.py against dropbear and OpenSSH in network namespaces (root)

.PHONY: test-deploy

test-deploy: venv
	$(PYTEST) tests/deploy
