# The habits of this repository, in one place. `make help` lists them.
.PHONY: help up test test-short test-e2e lint staticcheck bench generate check-generated docs

STATICCHECK_VERSION := v0.8.2
GOBIN := $(shell go env GOPATH)/bin
STATICCHECK := $(GOBIN)/staticcheck

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'
	@echo
	@echo "Test tiers: 'make test-short' is the fast tier (pure and in-process tests, under"
	@echo "a minute with a warm build cache); 'make test' is everything (the README's"
	@echo "command): Docker, the real binary and the aws CLI too, end-to-end tests in parallel."

up: ## run minato on this machine
	go run ./cmd/minato up

test: ## run every test (the README's test command; CI runs it with CI=true)
	go test -timeout 60m ./...

test-short: ## the fast tier: pure and in-process tests (no Docker, binary or aws CLI)
	go test -short ./...

test-e2e: ## run only the end-to-end tests against the real binary
	go test -timeout 60m ./test/e2e/...

lint: staticcheck ## gofmt, go vet and staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	go vet ./...
	$(STATICCHECK) ./...

staticcheck: # installs staticcheck $(STATICCHECK_VERSION) when it is missing or another version
	@$(STATICCHECK) -version 2>/dev/null | grep -q '($(STATICCHECK_VERSION:v%=%))' || \
		go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

bench: ## run the Go benchmarks
	go test -run '^$$' -bench . -benchmem ./...

generate: ## regenerate the AWS wire types (needs ../shared/aws-models)
	go generate ./internal/model/...

check-generated: ## check the committed wire types are what generate makes (needs ../shared/aws-models)
	go test -count=1 -run '^TestGeneratedCodeIsCurrent$$' -v ./internal/model/gen

docs: ## regenerate docs/compatibility.md and docs/cli.md from the code
	go test ./internal/api/compat -run TestCompatibilityDocIsCurrent -update
	go test ./internal/cli -run TestCLIDocIsCurrent -update
