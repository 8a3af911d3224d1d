package agent

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minato-project/minato/internal/agentproto"
	"github.com/minato-project/minato/internal/arn"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/model/ecstypes"
	rt "github.com/minato-project/minato/internal/runtime"
	"github.com/minato-project/minato/internal/taskcreds"
)

// taskEndpoints are what a task's containers reach at 169.254.170.2, as on
// ECS: the task metadata endpoint (v3 and v4), the credentials endpoint of
// the task's role, and minato's API (a proxy to the control plane, so that
// an AWS SDK in the task needs no configuration: AWS_ENDPOINT_URL names
// it). The runtime makes the address reachable (rt.Endpoints); the agent
// serves it on port 80, or on a free port when 80 is taken (another agent
// on the same host), and then names the port in every URL.
//
// The URLs carry an HMAC of the task (and container) under a key of this
// agent's, so a container cannot read another task's metadata or
// credentials by guessing.
type taskEndpoints struct {
	a    *Agent
	rt   rt.Endpoints
	base string // http://169.254.170.2[:port]
	port int
	key  []byte

	mu    sync.Mutex
	creds map[string]issued // by task ID
}

func (e *taskEndpoints) forget(taskID string) {
	e.mu.Lock()
	delete(e.creds, taskID)
	e.mu.Unlock()
}

// issued are a task's credentials and when the agent got them.
type issued struct {
	taskcreds.Credentials
	at time.Time
}

// stale reports whether half of the credentials' time has gone.
func (c issued) stale(now time.Time) bool {
	return now.Sub(c.at) > c.Expiration.Sub(c.at)/2
}

// startEndpoints serves the task endpoints until ctx ends; without a
// runtime that can carry them, or an address to serve them on, tasks run
// without them.
func (a *Agent) startEndpoints(ctx context.Context) {
	ep, ok := a.cfg.Runtime.(rt.Endpoints)
	if !ok {
		return
	}
	addr, err := ep.EnsureEndpointNetwork(ctx)
	if err != nil {
		a.log.Warn("tasks run without the task metadata and credentials endpoints", "err", err)
		return
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "80"))
	if err != nil {
		ln, err = net.Listen("tcp", net.JoinHostPort(addr, "0"))
	}
	if err != nil {
		a.log.Warn("tasks run without the task metadata and credentials endpoints", "err", err)
		return
	}
	k := sha256.Sum256([]byte("minato task endpoints\x00" + a.client.token + "\x00" + a.instance))
	e := &taskEndpoints{a: a, rt: ep, key: k[:], creds: map[string]issued{}}
	e.port = ln.Addr().(*net.TCPAddr).Port
	e.base = "http://" + addr
	if e.port != 80 {
		e.base += ":" + strconv.Itoa(e.port)
	}
	srv := &http.Server{Handler: e.handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	a.endpoints = e
	a.log.Info("task endpoints", "url", e.base)
}

func (e *taskEndpoints) mac(parts ...string) string {
	m := hmac.New(sha256.New, e.key)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(m.Sum(nil))[:24]
}

func (e *taskEndpoints) containerToken(taskID, name string) string {
	return taskID + "-" + e.mac("metadata", taskID, name)
}

func (e *taskEndpoints) credentialsID(taskID string) string {
	return taskID + "-" + e.mac("credentials", taskID)
}

// env is what a container learns of the endpoints.
func (e *taskEndpoints) env(asg agentproto.Assignment, name string) []ecstypes.KeyValuePair {
	tok := e.containerToken(asg.TaskID, name)
	kv := func(k, v string) ecstypes.KeyValuePair { return ecstypes.KeyValuePair{Name: k, Value: v} }
	out := []ecstypes.KeyValuePair{
		kv("ECS_CONTAINER_METADATA_URI_V4", e.base+"/v4/"+tok),
		kv("ECS_CONTAINER_METADATA_URI", e.base+"/v3/"+tok),
		kv("AWS_ENDPOINT_URL", e.base),
	}
	if p, err := arn.Parse(asg.TaskARN); err == nil && p.Region != "" {
		out = append(out, kv("AWS_REGION", p.Region), kv("AWS_DEFAULT_REGION", p.Region))
	}
	if roleOf(asg) != "" {
		if e.port == 80 {
			out = append(out, kv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/"+e.credentialsID(asg.TaskID)))
		} else {
			out = append(out, kv("AWS_CONTAINER_CREDENTIALS_FULL_URI", e.base+"/v2/credentials/"+e.credentialsID(asg.TaskID)))
		}
	}
	return out
}

func roleOf(asg agentproto.Assignment) string {
	if asg.Overrides != nil && asg.Overrides.TaskRoleArn != "" {
		return asg.Overrides.TaskRoleArn
	}
	return asg.Definition.TaskRoleArn
}

func (e *taskEndpoints) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/credentials/{id}", e.serveCredentials)
	for _, v := range []string{"v3", "v4"} {
		mux.HandleFunc("GET /"+v+"/{tok}", e.meta(e.container))
		mux.HandleFunc("GET /"+v+"/{tok}/task", e.meta(e.task(false)))
		mux.HandleFunc("GET /"+v+"/{tok}/stats", e.meta(e.containerStats))
		mux.HandleFunc("GET /"+v+"/{tok}/task/stats", e.meta(e.taskStats))
	}
	mux.HandleFunc("GET /v4/{tok}/taskWithTags", e.meta(e.task(true)))
	mux.Handle("/", e.apiProxy())
	return mux
}

// apiProxy passes every other request to the control plane server the
// agent uses at the time (it moves when that server goes away), keeping
// its Host (the SigV4 signature covers it).
func (e *taskEndpoints) apiProxy() http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			base, _ := e.a.client.server()
			target, err := url.Parse(base)
			if err != nil {
				return // the agent was started with it: cannot happen
			}
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
		},
		Transport: e.a.client.http.Transport,
	}
}

func writeEndpointJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// taskOf finds a task this agent runs and its newest report.
func (e *taskEndpoints) taskOf(taskID string) (*runner, agentproto.TaskReport, bool) {
	a := e.a
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.runners[taskID]
	if !ok {
		return nil, agentproto.TaskReport{}, false
	}
	return r, a.sent[taskID], true
}

func (e *taskEndpoints) serveCredentials(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	taskID, _, _ := strings.Cut(id, "-")
	run, rep, ok := e.taskOf(taskID)
	if !ok || !hmac.Equal([]byte(id), []byte(e.credentialsID(taskID))) {
		e.forget(taskID)
		writeEndpointJSON(w, http.StatusBadRequest, map[string]string{"code": "InvalidIdentity", "message": "no credentials for " + id})
		return
	}
	asg := run.assignment()
	if rep.LastStatus == core.TaskStopped || asg.DesiredStatus == core.TaskStopped {
		e.forget(taskID)
		writeEndpointJSON(w, http.StatusBadRequest, map[string]string{"code": "InvalidIdentity", "message": "the task has stopped"})
		return
	}
	e.mu.Lock()
	c, cached := e.creds[taskID]
	e.mu.Unlock()
	// Fresh credentials once half of their time has gone: a client that
	// refreshes before they expire always gets ones that last.
	if !cached || c.stale(time.Now()) {
		var out taskcreds.Credentials
		err := e.a.client.do(r.Context(), http.MethodPost, taskcreds.PathCredentials,
			taskcreds.Request{Cluster: asg.Cluster, TaskID: taskID, Instance: e.a.instance}, &out)
		if err != nil {
			writeEndpointJSON(w, http.StatusInternalServerError, map[string]string{"code": "InternalError", "message": err.Error()})
			return
		}
		c = issued{out, time.Now()}
		c.Expiration = c.Expiration.UTC()
		e.mu.Lock()
		e.creds[taskID] = c
		e.mu.Unlock()
	}
	writeEndpointJSON(w, http.StatusOK, c.Credentials)
}

// meta resolves a metadata token to its task and container.
func (e *taskEndpoints) meta(h func(w http.ResponseWriter, r *http.Request, run *runner, rep agentproto.TaskReport, name string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := r.PathValue("tok")
		taskID, _, _ := strings.Cut(tok, "-")
		run, rep, ok := e.taskOf(taskID)
		if ok {
			for _, name := range run.order {
				if hmac.Equal([]byte(tok), []byte(e.containerToken(taskID, name))) {
					h(w, r, run, rep, name)
					return
				}
			}
		}
		writeEndpointJSON(w, http.StatusNotFound, map[string]string{"error": "no such container"})
	}
}

// containerMeta is a container in the metadata endpoint's shape.
type containerMeta struct {
	DockerID      string            `json:"DockerId"`
	Name          string            `json:"Name"`
	DockerName    string            `json:"DockerName"`
	Image         string            `json:"Image"`
	ImageID       string            `json:"ImageID"`
	Labels        map[string]string `json:"Labels"`
	DesiredStatus string            `json:"DesiredStatus"`
	KnownStatus   string            `json:"KnownStatus"`
	ExitCode      *int32            `json:"ExitCode,omitempty"`
	Limits        map[string]any    `json:"Limits"`
	CreatedAt     *time.Time        `json:"CreatedAt,omitempty"`
	StartedAt     *time.Time        `json:"StartedAt,omitempty"`
	FinishedAt    *time.Time        `json:"FinishedAt,omitempty"`
	Type          string            `json:"Type"`
	ContainerARN  string            `json:"ContainerARN"`
	LogDriver     string            `json:"LogDriver,omitempty"`
	LogOptions    map[string]string `json:"LogOptions,omitempty"`
	Health        map[string]any    `json:"Health,omitempty"`
	Networks      []map[string]any  `json:"Networks"`
	Ports         []map[string]any  `json:"Ports,omitempty"`
}

func (e *taskEndpoints) containerMeta(ctx context.Context, run *runner, rep agentproto.TaskReport, name string) containerMeta {
	asg := run.assignment()
	def := run.defs[name]
	cm := containerMeta{Name: name, Image: def.Image, Labels: map[string]string{}, DesiredStatus: asg.DesiredStatus.String(),
		KnownStatus: "PENDING", Type: "NORMAL", Limits: map[string]any{"CPU": def.Cpu}}
	if def.Memory != nil {
		cm.Limits["Memory"] = *def.Memory
	}
	if asg.TaskARN != "" && asg.ContainerIDs[name] != "" {
		cm.ContainerARN = strings.Replace(asg.TaskARN, ":task/", ":container/", 1) + "/" + asg.ContainerIDs[name]
	}
	if def.LogConfiguration != nil {
		cm.LogDriver, cm.LogOptions = string(def.LogConfiguration.LogDriver), def.LogConfiguration.Options
	}
	var cr agentproto.ContainerReport
	for _, c := range rep.Containers {
		if c.Name == name {
			cr = c
		}
	}
	if cr.LastStatus != core.TaskStatusUnknown {
		cm.KnownStatus = cr.LastStatus.String()
	}
	cm.ExitCode = cr.ExitCode
	if cr.HealthStatus != "" {
		cm.Health = map[string]any{"status": cr.HealthStatus}
	}
	cm.DockerID = cr.RuntimeID
	mode := string(asg.Definition.NetworkMode)
	if mode == "" {
		mode = "bridge"
	}
	nw := map[string]any{"NetworkMode": mode, "IPv4Addresses": []string{}}
	if cr.RuntimeID != "" {
		if st, err := e.a.cfg.Runtime.Inspect(ctx, cr.RuntimeID); err == nil {
			cm.DockerName, cm.ImageID = strings.TrimPrefix(st.Name, "/"), st.ImageID
			cm.Labels = st.Labels
			if !st.StartedAt.IsZero() {
				cm.StartedAt = &st.StartedAt
			}
			if !st.FinishedAt.IsZero() && !st.Running {
				cm.FinishedAt = &st.FinishedAt
			}
			if st.IPv4 != "" {
				nw["IPv4Addresses"] = []string{st.IPv4}
			}
		}
	}
	if rep.PrivateIPv4 != "" {
		nw["IPv4Addresses"] = []string{rep.PrivateIPv4}
		nw["MACAddress"] = rep.MACAddress
		nw["IPv4SubnetCIDRBlock"] = rep.SubnetCIDR
		nw["AttachmentIndex"] = 0
	}
	cm.Networks = []map[string]any{nw}
	for _, b := range cr.NetworkBindings {
		cm.Ports = append(cm.Ports, map[string]any{"ContainerPort": b.ContainerPort, "Protocol": b.Protocol, "HostPort": b.HostPort, "HostIp": b.BindIP})
	}
	if mode != "bridge" && len(cm.Ports) == 0 {
		for _, pm := range def.PortMappings {
			p := map[string]any{"ContainerPort": pm.ContainerPort, "Protocol": pm.Protocol}
			if mode == "host" {
				p["HostPort"] = pm.ContainerPort
			}
			cm.Ports = append(cm.Ports, p)
		}
	}
	return cm
}

func (e *taskEndpoints) container(w http.ResponseWriter, r *http.Request, run *runner, rep agentproto.TaskReport, name string) {
	writeEndpointJSON(w, http.StatusOK, e.containerMeta(r.Context(), run, rep, name))
}

func (e *taskEndpoints) task(tags bool) func(w http.ResponseWriter, r *http.Request, run *runner, rep agentproto.TaskReport, name string) {
	return func(w http.ResponseWriter, r *http.Request, run *runner, rep agentproto.TaskReport, _ string) {
		asg := run.assignment()
		td := asg.Definition
		known := "PENDING"
		if rep.LastStatus != core.TaskStatusUnknown {
			known = rep.LastStatus.String()
		}
		prefix, _, _ := strings.Cut(asg.TaskARN, ":task/")
		out := map[string]any{
			"Cluster":       prefix + ":cluster/" + asg.Cluster,
			"TaskARN":       asg.TaskARN,
			"Family":        td.Family,
			"Revision":      strconv.Itoa(int(td.Revision)),
			"DesiredStatus": asg.DesiredStatus.String(),
			"KnownStatus":   known,
			"LaunchType":    "EC2",
			"Containers":    []containerMeta{},
		}
		limits := map[string]any{}
		if td.Cpu != "" {
			if n, err := strconv.Atoi(td.Cpu); err == nil {
				limits["CPU"] = float64(n) / 1024
			}
		}
		if td.Memory != "" {
			if n, err := strconv.Atoi(td.Memory); err == nil {
				limits["Memory"] = n
			}
		}
		if len(limits) > 0 {
			out["Limits"] = limits
		}
		if z := e.a.cfg.AvailabilityZone; z != "" {
			out["AvailabilityZone"] = z
		}
		if !rep.PullStartedAt.IsZero() {
			out["PullStartedAt"], out["PullStoppedAt"] = rep.PullStartedAt, rep.PullStoppedAt
		}
		if !rep.ExecutionStoppedAt.IsZero() {
			out["ExecutionStoppedAt"] = rep.ExecutionStoppedAt
		}
		cs := []containerMeta{}
		for _, name := range run.order {
			cs = append(cs, e.containerMeta(r.Context(), run, rep, name))
		}
		out["Containers"] = cs
		if tags {
			out["TaskTags"] = map[string]string{}
			out["ContainerInstanceTags"] = map[string]string{}
		}
		writeEndpointJSON(w, http.StatusOK, out)
	}
}

func (e *taskEndpoints) statsOf(ctx context.Context, rep agentproto.TaskReport, name string) json.RawMessage {
	for _, c := range rep.Containers {
		if c.Name == name && c.RuntimeID != "" {
			if b, err := e.rt.Stats(ctx, c.RuntimeID); err == nil {
				return bytes.TrimSpace(b)
			}
		}
	}
	return json.RawMessage("null")
}

func (e *taskEndpoints) containerStats(w http.ResponseWriter, r *http.Request, _ *runner, rep agentproto.TaskReport, name string) {
	writeEndpointJSON(w, http.StatusOK, e.statsOf(r.Context(), rep, name))
}

func (e *taskEndpoints) taskStats(w http.ResponseWriter, r *http.Request, run *runner, rep agentproto.TaskReport, _ string) {
	out := map[string]json.RawMessage{}
	for _, c := range rep.Containers {
		if c.RuntimeID != "" {
			out[c.RuntimeID] = e.statsOf(r.Context(), rep, c.Name)
		}
	}
	writeEndpointJSON(w, http.StatusOK, out)
}
