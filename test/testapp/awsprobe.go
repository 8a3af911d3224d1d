package main

// awsprobe SECRET: what an application in an ECS task does with no
// configuration of its own: read the task metadata endpoint v4, then, with
// the AWS SDK for Go v2's default configuration (credentials from the
// container credentials endpoint, the endpoint from AWS_ENDPOINT_URL),
// list its own cluster's tasks, read the secret and ask who it is. It
// prints one JSON object, the credentials it was given among it (for the
// tests to try after the task stopped), and exits 0 when every call
// succeeded.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func init() { extraModes["awsprobe"] = awsProbe }

func awsProbe(args []string) int {
	if len(args) != 1 {
		return usage(fmt.Errorf("awsprobe SECRET"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := map[string]any{}
	errs := map[string]string{}
	var meta struct {
		Cluster, TaskARN string
		Containers       []struct{ Name, DockerId string }
	}
	resp, err := http.Get(os.Getenv("ECS_CONTAINER_METADATA_URI_V4") + "/task")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		err = json.Unmarshal(b, &meta)
		out["metadata"] = json.RawMessage(b)
	}
	if err != nil {
		errs["metadata"] = err.Error()
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		errs["config"] = err.Error()
	} else {
		if creds, err := cfg.Credentials.Retrieve(ctx); err == nil {
			out["credentials"] = map[string]any{"AccessKeyId": creds.AccessKeyID, "SecretAccessKey": creds.SecretAccessKey,
				"SessionToken": creds.SessionToken, "Expires": creds.Expires, "Source": creds.Source}
		} else {
			errs["credentials"] = err.Error()
		}
		if lt, err := ecs.NewFromConfig(cfg).ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String(meta.Cluster)}); err == nil {
			out["tasks"] = lt.TaskArns
		} else {
			errs["ecs"] = err.Error()
		}
		if sv, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(args[0])}); err == nil {
			out["secret"] = aws.ToString(sv.SecretString)
		} else {
			errs["secretsmanager"] = err.Error()
		}
		if id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err == nil {
			out["identity"] = aws.ToString(id.Arn)
		} else {
			errs["sts"] = err.Error()
		}
		if _, err := ecs.NewFromConfig(cfg).DeleteCluster(ctx, &ecs.DeleteClusterInput{Cluster: aws.String("probe-forbidden")}); err != nil {
			out["forbidden"] = err.Error()
		} else {
			errs["forbidden"] = "DeleteCluster was allowed"
		}
	}
	out["errors"] = errs
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
	if len(errs) > 0 {
		return 1
	}
	return 0
}
