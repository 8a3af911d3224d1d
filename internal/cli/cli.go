// Package cli implements minato's command line: one file per subcommand.
// Main returns an exit code so that the CLI can be tested without exiting.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"up", "run everything on this machine: API, agent and load balancer", runUp},
		{"server", "run a control-plane node (`server members`: the servers, the leader, etcd health)", runServer},
		{"agent", "run a host agent that runs tasks on this machine's Docker", runAgent},
		{"rotate-key", "re-wrap every secret value with a new master key (node stopped)", runRotateKey},
		{"backup", "write a verified copy of the state store to a file (node running or stopped)", runBackup},
		{"etcd-restore", "make a server's embedded etcd member from a snapshot, as a new cluster", runEtcdRestore},
		{"status", "show the servers, container instances, clusters and services (running/desired, rollout)", runStatus},
		{"ps", "list a cluster's tasks", runPs},
		{"logs", "print (or follow with -f) the logs of a service or a task", runLogs},
		{"deploy", "deploy a new image or task definition to a service and follow it until it is stable or fails", runDeploy},
		{"exec", "run a command in a task's container (ECS Exec), interactively", runExec},
		{"version", "print the version", runVersion},
	}
}

// errUsage marks a command-line mistake; Main prints usage and exits 2.
var errUsage = errors.New("usage")

// Main runs the subcommand named by args[0] and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		case errors.As(err, new(*exitCodeError)):
			var ec *exitCodeError
			errors.As(err, &ec)
			return ec.code
		default:
			fmt.Fprintf(stderr, "minato %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "minato: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "minato — a self-hosted, Amazon ECS compatible container orchestrator")
	fmt.Fprintln(w, "\nUsage: minato <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'minato <command> -h' for the flags of a command.\n\nEnvironment:")
	for _, e := range environment {
		fmt.Fprintf(w, "  %-28s %s\n", e.name, e.meaning)
	}
}

// environment lists the variables minato reads, for usage and docs/cli.md.
var environment = []struct{ name, commands, meaning string }{
	{"MINATO_ACCESS_KEY_ID", "up, server", "with MINATO_SECRET_ACCESS_KEY: the key pair the API accepts, instead of the one generated in the data dir"},
	{"MINATO_SECRET_ACCESS_KEY", "up, server", "see MINATO_ACCESS_KEY_ID"},
	{"MINATO_AGENT_TOKEN", "up, server, agent", "the agents' join token, instead of <data-dir>/agent-token; for agent, the default of --token"},
	{"MINATO_MASTER_KEY", "up, server, rotate-key", "the master key of secret values (base64 of 32 bytes) when --master-key-file is not given"},
	{"MINATO_NEW_MASTER_KEY", "rotate-key", "the new master key, when --new-master-key-file is not given"},
	{"XDG_DATA_HOME", "up, server, agent, rotate-key", "the default --data-dir is $XDG_DATA_HOME/minato, or ~/.local/share/minato without it"},
	{"AWS_PROFILE", "status, ps, logs, deploy, exec", "take the endpoint, keys and region from this AWS profile instead of the local minato's data dir (as --profile)"},
	{"AWS_ENDPOINT_URL", "status, ps, logs, deploy, exec", "the minato API URL (also AWS_ENDPOINT_URL_ECS), instead of <data-dir>/api-url"},
	{"AWS_ACCESS_KEY_ID", "status, ps, logs, deploy, exec", "with AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN): the key pair, instead of <data-dir>/credentials.json"},
	{"AWS_REGION", "status, ps, logs, deploy, exec", "the region (also AWS_DEFAULT_REGION); default us-east-1"},
	{"AWS_CONFIG_FILE", "up, server, status, ps, logs, deploy, exec", "where --write-aws-profile writes the profile's region and endpoint (default ~/.aws/config)"},
	{"AWS_SHARED_CREDENTIALS_FILE", "up, server, status, ps, logs, deploy, exec", "where --write-aws-profile writes the key pair (default ~/.aws/credentials)"},
	{"DOCKER_HOST", "up, agent", "the Docker Engine the agent runs tasks on, as for the docker CLI (also DOCKER_CERT_PATH, DOCKER_TLS_VERIFY, DOCKER_API_VERSION)"},
}

// newFlagSet returns a FlagSet that reports errors instead of exiting.
// Every command makes its flags with it, so that the generated reference
// (docs/cli.md, see flagdoc.go) sees them: when stderr is a flagCollector,
// it is handed the FlagSet.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("minato "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if c, ok := stderr.(flagCollector); ok {
		c.collect(name, fs)
	}
	return fs
}

// parse parses args and turns a flag error into errUsage.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return errUsage
	}
	return nil
}

func getenv(k string) string { return os.Getenv(k) }
