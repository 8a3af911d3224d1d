# The habits of this repository, in one place. `make help` lists them.
.PHONY: help up test test-e2e lint bench generate docs

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

up: ## run minato on this machine
	go run ./cmd/minato up

test: ## run every test (the README's test command; CI runs it with CI=true)
	go test -timeout 30m ./...

test-e2e: ## run only the end-to-end tests against the real binary
	go test ./test/e2e/...

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	go vet ./...

bench: ## run the Go benchmarks
	go test -run '^$$' -bench . -benchmem ./...

generate: ## regenerate the AWS wire types (needs ../shared/aws-models)
	go generate ./internal/model/...

docs: ## regenerate docs/compatibility.md and docs/cli.md from the code
	go test ./internal/api/compat -run TestCompatibilityDocIsCurrent -update
	go test ./internal/cli -run TestCLIDocIsCurrent -update
