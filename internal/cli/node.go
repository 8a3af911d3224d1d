package cli

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/scheduler"
)

// nodeFlags are the flags shared by up and server.
type nodeFlags struct {
	dataDir   string
	apiAddr   string
	accountID string
	region    string
	ops       opsFlags
	// noMetrics is --no-metrics.
	noMetrics bool
	tlsCert   string
	tlsKey    string
	lbAddr    string
	masterKey string
	// registryHost is --registry-host: the host[:port] of repositoryUri.
	registryHost string
	// profile is --write-aws-profile: the AWS profile to write once the
	// node is ready ("": none).
	profile string
	// fargateOvercommit is --fargate-cpu-overcommit.
	fargateOvercommit float64
	// deploymentMinute is --deployment-minute.
	deploymentMinute time.Duration
	// trackingPeriods is --target-tracking-periods.
	trackingPeriods string
	// registryDir is --registry-dir.
	registryDir string
	// ha are the flags of a server among several (server only; nil
	// for up).
	ha *haFlags
}

func (n *nodeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&n.dataDir, "data-dir", defaultDataDir(), "directory for state, keys and logs")
	fs.StringVar(&n.apiAddr, "api-addr", "127.0.0.1:7400", "address of the AWS API listener")
	fs.StringVar(&n.accountID, "account-id", "000000000000", "AWS account ID used in ARNs")
	fs.StringVar(&n.region, "region", "us-east-1", "region used for the printed profile (any region is accepted in requests)")
	n.ops.register(fs)
	fs.BoolVar(&n.noMetrics, "no-metrics", false, "serve no Prometheus /metrics on the API listener (it is served unauthenticated, as /healthz; see docs/operations.md)")
	fs.StringVar(&n.tlsCert, "tls-cert-file", "", "serve the API over HTTPS with this certificate (PEM)")
	fs.StringVar(&n.tlsKey, "tls-key-file", "", "the private key of --tls-cert-file (PEM)")
	fs.StringVar(&n.lbAddr, "lb-addr", "127.0.0.1", "address the load balancers' listeners bind (their DNSName)")
	fs.StringVar(&n.registryHost, "registry-host", "", "host[:port] of the image registry in repositoryUri, as docker on other hosts reaches this node (default: the --api-addr address; the registry is served there under /v2/)")
	fs.StringVar(&n.registryDir, "registry-dir", "", "directory of the image registry's blobs (default: registry in the data dir); servers sharing a store give all the same shared directory (NFS, say)")
	fs.StringVar(&n.masterKey, "master-key-file", "", "file holding the master key of secret values (default: $MINATO_MASTER_KEY, else secrets.key in the data dir, created on first start)")
	fs.Float64Var(&n.fargateOvercommit, "fargate-cpu-overcommit", scheduler.DefaultFargateCPUOvercommit, "how many Fargate CPU units one CPU unit of a Fargate pool host holds: a FARGATE task's cpu is divided by it on its host (memory is not overcommitted)")
	fs.DurationVar(&n.deploymentMinute, "deployment-minute", time.Minute, "how long one minute of a service's deployment configuration lasts (bakeTimeInMinutes, stepBakeTimeInMinutes, canaryBakeTimeInMinutes, lifecycle hook timeouts); shorter for tests and demos")
	fs.StringVar(&n.trackingPeriods, "target-tracking-periods", "3,15", "HIGH,LOW: how many one-minute periods the high and low alarms of a target tracking scaling policy look at (AWS: 3,15); fewer for tests and demos")
	fs.StringVar(&n.profile, "write-aws-profile", "", "write the key pair, region and endpoint as this AWS profile into ~/.aws/credentials and ~/.aws/config ($AWS_SHARED_CREDENTIALS_FILE, $AWS_CONFIG_FILE), keeping the rest of both files")
}

// defaultDataDir is $XDG_DATA_HOME/minato, or ~/.local/share/minato.
func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "minato")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "minato")
	}
	return "minato-data"
}

// targetTrackingPeriods parses --target-tracking-periods.
func (n *nodeFlags) targetTrackingPeriods() ([2]int32, error) {
	var out [2]int32
	hi, lo, ok := strings.Cut(n.trackingPeriods, ",")
	if !ok {
		return out, fmt.Errorf("--target-tracking-periods %q: want HIGH,LOW, such as 3,15", n.trackingPeriods)
	}
	for i, s := range []string{hi, lo} {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || v < 1 || v > 60 {
			return out, fmt.Errorf("--target-tracking-periods %q: want two whole numbers of periods from 1 to 60", n.trackingPeriods)
		}
		out[i] = int32(v)
	}
	return out, nil
}
