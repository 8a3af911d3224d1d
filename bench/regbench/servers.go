package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/minato-project/minato/bench/internal/harness"
	"github.com/minato-project/minato/internal/registry/registrytest"
)

// servers are the two registries under test.
type servers struct {
	minato, stock         *exec.Cmd
	minatoAddr, stockAddr string
	minatoDir             string
	ecr                   *ecr.Client
	ecs                   *ecs.Client
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func startServers(ctx context.Context, work string, bins map[string]string) (*servers, error) {
	s := &servers{minatoDir: filepath.Join(work, "minato")}
	var err error
	if s.stockAddr, err = freeAddr(); err != nil {
		return nil, err
	}
	if s.minatoAddr, err = freeAddr(); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(work, "servers.log"))
	if err != nil {
		return nil, err
	}
	s.stock = exec.Command(bins["stock"], "-addr", s.stockAddr, "-dir", filepath.Join(work, "stock"))
	s.stock.Stdout, s.stock.Stderr = logf, logf
	if err := s.stock.Start(); err != nil {
		return nil, err
	}
	s.minato = exec.Command(bins["minato"], "up", "--data-dir", s.minatoDir, "--api-addr", s.minatoAddr,
		"--log-level", "warn", "--dynamic-ports", "64000-65000")
	s.minato.Env = append(os.Environ(), "MINATO_ACCESS_KEY_ID="+harness.AccessKeyID, "MINATO_SECRET_ACCESS_KEY="+harness.SecretAccessKey)
	s.minato.Stdout, s.minato.Stderr = logf, logf
	if err := s.minato.Start(); err != nil {
		s.stop()
		return nil, err
	}
	for _, u := range []string{"http://" + s.stockAddr + "/v2/", "http://" + s.minatoAddr + "/readyz"} {
		if err := waitOK(ctx, u); err != nil {
			s.stop()
			return nil, fmt.Errorf("%w (see %s)", err, logf.Name())
		}
	}
	creds := credentials.NewStaticCredentialsProvider(harness.AccessKeyID, harness.SecretAccessKey, "")
	s.ecr = ecr.New(ecr.Options{Region: harness.Region, BaseEndpoint: aws.String("http://" + s.minatoAddr), Credentials: creds})
	s.ecs = harness.NewECSClient("http://"+s.minatoAddr, 4)
	return s, nil
}

func waitOK(ctx context.Context, u string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not answer 200 within a minute", u)
}

func (s *servers) stop() {
	for _, c := range []*exec.Cmd{s.minato, s.stock} {
		if c != nil && c.Process != nil {
			c.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { c.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				c.Process.Kill()
				<-done
			}
		}
	}
}

// client returns a registry client of server name ("minato" logged in
// with a token of GetAuthorizationToken, "stock" without credentials).
func (s *servers) client(ctx context.Context, name string) (*registrytest.Client, error) {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	if name == "stock" {
		return &registrytest.Client{Base: "http://" + s.stockAddr, HTTP: hc}, nil
	}
	user, pass, err := s.login(ctx)
	if err != nil {
		return nil, err
	}
	return &registrytest.Client{Base: "http://" + s.minatoAddr, User: user, Pass: pass, HTTP: hc}, nil
}

// login returns the user and password of a minato registry token.
func (s *servers) login(ctx context.Context) (string, string, error) {
	out, err := s.ecr.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return "", "", err
	}
	b, err := base64.StdEncoding.DecodeString(aws.ToString(out.AuthorizationData[0].AuthorizationToken))
	if err != nil {
		return "", "", err
	}
	user, pass, _ := strings.Cut(string(b), ":")
	return user, pass, nil
}

// createRepo makes repo in minato (the stock server needs none).
func (s *servers) createRepo(ctx context.Context, repo string) error {
	_, err := s.ecr.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(repo)})
	return err
}
