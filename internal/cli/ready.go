package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/minato-project/minato/internal/controlplane"
)

// readyOptions is what the ready message says besides the node's Info.
type readyOptions struct {
	command string // "up" or "server"
	// profile is the profile --write-aws-profile wrote ("": none); the
	// message then names the files.
	profile               string
	configFile, credsFile string
	joinHint              bool // print how agents join (no local agent)
	fargate               bool // the local agent serves the Fargate pool
	tlsCA                 string
}

// printReady prints how to reach the node. Everything it prints is meant
// to be pasted as it is: the exports into a shell, the two blocks into
// the AWS config files. The config blocks carry no inline comments: the
// AWS clients' parser (boto3, the aws CLI v1) would read them as part of
// the value.
func printReady(w io.Writer, info controlplane.Info, o readyOptions) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("minato is up.\n\n")
	p("  API          %s\n  Data         %s\n  Account      %s\n", info.APIURL, info.DataDir, info.AccountID)
	if info.ConsoleURL != "" {
		p("  Console      %s\n", info.ConsoleURL)
	}
	switch {
	case info.Shared != "":
		p("  Store        %s (shared with the other servers; the key pair and agent token are kept there)\n", info.Shared)
	case info.AgentTokenFile != "":
		p("  Agent token  %s\n", info.AgentTokenFile)
	default:
		p("  Agent token  from $MINATO_AGENT_TOKEN\n")
	}
	if o.fargate {
		p("  Fargate      this machine runs the FARGATE tasks of every cluster (docs/fargate.md)\n")
	}
	p("\n")
	if info.KeyCreated && info.Shared == "" {
		p("A new key pair was generated and kept in the data directory.\n\n")
	}
	name := o.profile
	if name == "" {
		name = "minato"
	}
	p("Use minato from this shell (the aws CLI, boto3, the AWS SDKs):\n\n")
	p("  export AWS_ACCESS_KEY_ID=%s\n", shellQuote(info.Key.AccessKeyID))
	p("  export AWS_SECRET_ACCESS_KEY=%s\n", shellQuote(info.Key.SecretAccessKey))
	p("  export AWS_REGION=%s\n", shellQuote(info.Region))
	p("  export AWS_DEFAULT_REGION=%s\n", shellQuote(info.Region))
	p("  export AWS_ENDPOINT_URL=%s\n", shellQuote(info.APIURL))
	p("  aws ecs list-clusters\n\n")
	p("AWS_ENDPOINT_URL, and endpoint_url in a profile, are read by the aws CLI 2.13 and\n")
	p("later, the aws CLI 1.29 and later, boto3 1.28 and later and current AWS SDKs.\n")
	p("Older clients (Debian 12's aws CLI 2.9, boto3 1.26) ignore both and silently\n")
	p("send requests to AWS: give them the endpoint on every call:\n\n")
	p("  aws --endpoint-url %s ecs list-clusters\n\n", info.APIURL)
	if o.profile != "" {
		p("Profile %q written: [%s] in %s, [profile %s] in %s:\n\n", o.profile, o.profile, o.credsFile, o.profile, o.configFile)
		p("  aws --profile %s ecs list-clusters\n\n", o.profile)
	} else {
		p("Or keep it as a profile (minato %s --write-aws-profile minato writes it for you):\n\n", o.command)
		p("  # ~/.aws/credentials\n  [%s]\n  aws_access_key_id = %s\n  aws_secret_access_key = %s\n\n",
			name, info.Key.AccessKeyID, info.Key.SecretAccessKey)
		p("  # ~/.aws/config\n  [profile %s]\n  region = %s\n  endpoint_url = %s\n\n", name, info.Region, info.APIURL)
		p("  aws --profile %s ecs list-clusters\n\n", name)
	}
	if o.joinHint {
		p("Agents join with:\n\n  minato agent --server %s --token %s", info.APIURL, info.AgentToken)
		if o.tlsCA != "" {
			p(" --ca-file %s", o.tlsCA)
		}
		p("\n\n(or set MINATO_AGENT_TOKEN instead of --token)\n\n")
	}
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-+/=.:,@%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
