package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/minato-project/minato/internal/controlplane"
)

// apiURLFile is where `minato up` and `minato server` keep the URL of
// their API in the data dir, beside the key pair (credentials.json), so
// that the user verbs find the local minato without any setup.
const apiURLFile = "api-url"

// defaultAPIURL is the API of a node started with the default --api-addr.
const defaultAPIURL = "http://127.0.0.1:7400"

// connectFlags say which minato the user verbs (status, ps, logs, deploy,
// exec) talk to: by default the local one, whose endpoint and key pair
// are in the default data dir; --profile (or $AWS_PROFILE) takes them from
// an AWS profile instead, and --endpoint-url, --region and the AWS_*
// variables override either.
type connectFlags struct {
	endpoint, profile, region, dataDir string
}

func (c *connectFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.endpoint, "endpoint-url", "", "the minato API URL (default: $AWS_ENDPOINT_URL_ECS, $AWS_ENDPOINT_URL, the profile's endpoint_url with --profile, else the local minato's, from --data-dir)")
	fs.StringVar(&c.profile, "profile", "", "take the region, endpoint and keys from this AWS profile (default: $AWS_PROFILE; without either, the local minato's from --data-dir)")
	fs.StringVar(&c.region, "region", "", "the region (default: $AWS_REGION, $AWS_DEFAULT_REGION, the profile's, else us-east-1)")
	fs.StringVar(&c.dataDir, "data-dir", defaultDataDir(), "the data dir of the local minato, whose API URL and key pair are used without --profile")
}

// resolve finds the endpoint, region and keys.
func (c *connectFlags) resolve(getenv func(string) string) (awsSettings, error) {
	if c.profile != "" || getenv("AWS_PROFILE") != "" {
		return resolveAWS(c.profile, c.region, c.endpoint, getenv)
	}
	first := func(vs ...string) string {
		for _, v := range vs {
			if v != "" {
				return v
			}
		}
		return ""
	}
	s := awsSettings{
		region:   first(c.region, getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION"), "us-east-1"),
		endpoint: first(c.endpoint, getenv("AWS_ENDPOINT_URL_ECS"), getenv("AWS_ENDPOINT_URL")),
		keyID:    getenv("AWS_ACCESS_KEY_ID"), secret: getenv("AWS_SECRET_ACCESS_KEY"), token: getenv("AWS_SESSION_TOKEN"),
	}
	if s.endpoint == "" {
		s.endpoint = defaultAPIURL
		if b, err := os.ReadFile(filepath.Join(c.dataDir, apiURLFile)); err == nil && strings.TrimSpace(string(b)) != "" {
			s.endpoint = strings.TrimSpace(string(b))
		}
	}
	if s.keyID == "" || s.secret == "" {
		k, err := readLocalKey(c.dataDir)
		if err != nil {
			// No local key pair: the default profile may hold one.
			if p, perr := resolveAWS("", c.region, s.endpoint, getenv); perr == nil {
				return p, nil
			}
			return s, err
		}
		s.keyID, s.secret, s.token = k.AccessKeyID, k.SecretAccessKey, ""
	}
	return s, nil
}

// readLocalKey reads the key pair `minato up` keeps in dataDir.
func readLocalKey(dataDir string) (controlplane.AccessKey, error) {
	var k controlplane.AccessKey
	path := filepath.Join(dataDir, "credentials.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return k, fmt.Errorf("no key pair: %s does not exist (has `minato up` run with --data-dir %s?); give --profile, or set $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY", path, dataDir)
	}
	if err != nil {
		return k, err
	}
	if err := json.Unmarshal(b, &k); err != nil || k.AccessKeyID == "" || k.SecretAccessKey == "" {
		return k, fmt.Errorf("%s is damaged", path)
	}
	return k, nil
}

func (s awsSettings) creds() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(s.keyID, s.secret, s.token)
}

func (s awsSettings) ecs() *ecs.Client {
	return ecs.New(ecs.Options{Region: s.region, BaseEndpoint: aws.String(s.endpoint), Credentials: s.creds()})
}

func (s awsSettings) logs() *cloudwatchlogs.Client {
	return cloudwatchlogs.New(cloudwatchlogs.Options{Region: s.region, BaseEndpoint: aws.String(s.endpoint), Credentials: s.creds()})
}

// members asks the server for the servers sharing its store
// (controlplane.MembersPath); ok is false when it does not answer it.
func (s awsSettings) members(ctx context.Context) (m controlplane.Members, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(s.endpoint, "/")+controlplane.MembersPath, nil)
	if err != nil {
		return m, false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return m, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return m, false
	}
	return m, json.Unmarshal(b, &m) == nil
}

// writeAPIURL keeps the node's API URL in its data dir (apiURLFile).
func writeAPIURL(dataDir, url string) error {
	return os.WriteFile(filepath.Join(dataDir, apiURLFile), []byte(url+"\n"), 0o600)
}
