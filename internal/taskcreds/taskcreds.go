// Package taskcreds issues the temporary credentials of a task's role
// (taskRoleArn) and recognises them on the API: an agent asks for them for
// a task it runs (PathCredentials), and hands them to the task's
// containers through the credentials endpoint; minato's SigV4 accepts
// them, with their session token, until they expire or the task stops.
//
// Nothing is stored: the secret key is an HMAC of the access key ID, and
// the session token is a signed statement of the access key, the task and
// the expiry, so every control-plane node with the same key recognises
// them. What task credentials may call is Allowed (the trust model of
// docs/exec.md).
package taskcreds

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/minato-project/minato/internal/awsproto"
	"github.com/minato-project/minato/internal/core"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
)

// PathCredentials is where an agent asks for a task's credentials.
const PathCredentials = "/minato/agent/v1/credentials"

// Request is an agent's ask.
type Request struct {
	Cluster  string `json:"cluster"`
	TaskID   string `json:"taskId"`
	Instance string `json:"instance"`
}

// Credentials are what the credentials endpoint serves, in ECS's shape.
type Credentials struct {
	RoleArn         string    `json:"RoleArn"`
	AccessKeyID     string    `json:"AccessKeyId"`
	SecretAccessKey string    `json:"SecretAccessKey"`
	Token           string    `json:"Token"`
	Expiration      time.Time `json:"Expiration"`
}

// Config says how to issue credentials.
type Config struct {
	// Key signs the tokens and derives the secret keys.
	Key []byte
	// Store holds the tasks; a token is refused once its task stopped.
	Store store.Store
	// Running, when set, says whether a task is running, faster than
	// reading Store (the cluster view).
	Running func(cluster, taskID string) (running, known bool)
	Clock   core.Clock
	// TTL is how long credentials last; default 1 hour (agents refresh
	// them at half of it).
	TTL time.Duration
	// AccountID is the account of the roles' ARNs.
	AccountID string
	// AgentToken is the join token agents present.
	AgentToken string
}

// Issuer issues and recognises task credentials.
type Issuer struct{ cfg Config }

// New returns an Issuer.
func New(cfg Config) *Issuer {
	if cfg.Clock == nil {
		cfg.Clock = core.SystemClock{}
	}
	if cfg.TTL == 0 {
		cfg.TTL = time.Hour
	}
	return &Issuer{cfg: cfg}
}

type claims struct {
	AccessKeyID string `json:"k"`
	Cluster     string `json:"c"`
	TaskID      string `json:"t"`
	Role        string `json:"r"`
	Expires     int64  `json:"e"` // Unix seconds
}

func (is *Issuer) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, is.cfg.Key)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return m.Sum(nil)
}

func (is *Issuer) secretOf(akid string) string {
	return base64.RawStdEncoding.EncodeToString(is.mac("secret", akid))[:40]
}

// Issue returns new credentials for a task's role.
func (is *Issuer) Issue(cluster, taskID, role string) Credentials {
	var b [10]byte
	rand.Read(b[:])
	akid := "ASIA" + base32.StdEncoding.EncodeToString(b[:])
	exp := is.cfg.Clock.Now().Add(is.cfg.TTL).Truncate(time.Second)
	c := claims{AccessKeyID: akid, Cluster: cluster, TaskID: taskID, Role: role, Expires: exp.Unix()}
	body, _ := json.Marshal(c)
	enc := base64.RawURLEncoding
	tok := "minato." + enc.EncodeToString(body) + "." + enc.EncodeToString(is.mac("token", string(body)))
	return Credentials{RoleArn: role, AccessKeyID: akid, SecretAccessKey: is.secretOf(akid), Token: tok, Expiration: exp.UTC()}
}

// Principal recognises task credentials: the principal of an access key
// and its session token, when the token is one this issuer signed for that
// key, has not expired, and its task still runs.
func (is *Issuer) Principal(akid, token string) (awsproto.Principal, bool) {
	rest, ok := strings.CutPrefix(token, "minato.")
	body64, sig64, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || !strings.HasPrefix(akid, "ASIA") {
		return awsproto.Principal{}, false
	}
	enc := base64.RawURLEncoding
	body, err1 := enc.DecodeString(body64)
	sig, err2 := enc.DecodeString(sig64)
	if err1 != nil || err2 != nil || !hmac.Equal(sig, is.mac("token", string(body))) {
		return awsproto.Principal{}, false
	}
	var c claims
	if json.Unmarshal(body, &c) != nil || subtle.ConstantTimeCompare([]byte(c.AccessKeyID), []byte(akid)) != 1 {
		return awsproto.Principal{}, false
	}
	if !is.cfg.Clock.Now().Before(time.Unix(c.Expires, 0)) || !is.running(c.Cluster, c.TaskID) {
		return awsproto.Principal{}, false
	}
	roleName := c.Role[strings.LastIndex(c.Role, "/")+1:]
	return awsproto.Principal{
		AccessKeyID: akid, SecretAccessKey: is.secretOf(akid), SessionToken: token, AccountID: is.cfg.AccountID,
		ARN:    "arn:aws:sts::" + is.cfg.AccountID + ":assumed-role/" + roleName + "/" + c.TaskID,
		UserID: "AROA" + strings.ToUpper(base32.StdEncoding.EncodeToString(is.mac("role", c.Role)[:10])) + ":" + c.TaskID,
		Allow:  Allowed,
	}, true
}

func (is *Issuer) running(cluster, taskID string) bool {
	if is.cfg.Running != nil {
		if running, known := is.cfg.Running(cluster, taskID); known {
			return running
		}
	}
	if is.cfg.Store == nil {
		return false
	}
	it, err := state.Get[state.Task](context.Background(), is.cfg.Store, state.TaskKey(cluster, taskID))
	return err == nil && taskRunning(it.Value)
}

func taskRunning(t state.Task) bool {
	return t.Task.DesiredStatus == "RUNNING" && t.Task.LastStatus != "STOPPED" && t.Task.LastStatus != "DEPROVISIONING"
}

// allowed lists what task credentials may call, by signing name.
var allowed = map[string]func(op string) bool{
	"ecs": func(op string) bool { return strings.HasPrefix(op, "Describe") || strings.HasPrefix(op, "List") },
	"secretsmanager": func(op string) bool {
		return op == "GetSecretValue" || op == "DescribeSecret" || op == "ListSecrets" || op == "BatchGetSecretValue"
	},
	"ssm": func(op string) bool { return strings.HasPrefix(op, "GetParameter") || op == "DescribeParameters" },
	"logs": func(op string) bool {
		return op == "CreateLogStream" || op == "PutLogEvents" || strings.HasPrefix(op, "Describe") || op == "GetLogEvents" || op == "FilterLogEvents"
	},
	"sts": func(op string) bool { return op == "GetCallerIdentity" },
	"ecr": func(op string) bool {
		return op == "GetAuthorizationToken" || op == "BatchGetImage" || op == "GetDownloadUrlForLayer" || strings.HasPrefix(op, "Describe") || strings.HasPrefix(op, "List")
	},
	"elasticloadbalancing": func(op string) bool { return strings.HasPrefix(op, "Describe") },
}

// Allowed says whether task credentials may call an operation of a
// service (its SigV4 signing name): reads of ECS, ELB and ECR, reading
// secrets and parameters, writing log events, GetCallerIdentity.
func Allowed(service, op string) bool {
	f := allowed[service]
	return f != nil && f(op)
}

// Handler serves PathCredentials to agents.
func (is *Issuer) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || is.cfg.AgentToken == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(is.cfg.AgentToken)) != 1 {
			writeErr(w, http.StatusUnauthorized, "invalid agent token")
			return
		}
		var req Request
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil {
			writeErr(w, http.StatusBadRequest, "malformed request")
			return
		}
		c, err := is.forTask(r.Context(), req)
		if err != nil {
			var ce *core.Error
			status := http.StatusInternalServerError
			if errors.As(err, &ce) {
				status = http.StatusForbidden
			}
			writeErr(w, status, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(c)
	})
}

func writeErr(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// forTask issues credentials for a task that runs on the asking instance
// and has a role.
func (is *Issuer) forTask(ctx context.Context, req Request) (Credentials, error) {
	it, err := state.Get[state.Task](ctx, is.cfg.Store, state.TaskKey(req.Cluster, req.TaskID))
	if state.IsNotFound(err) {
		return Credentials{}, core.Errorf(core.KindNotFound, "", "no task %s in cluster %s", req.TaskID, req.Cluster)
	}
	if err != nil {
		return Credentials{}, err
	}
	t := it.Value
	if t.InstanceID != req.Instance || !taskRunning(t) {
		return Credentials{}, core.Errorf(core.KindInvalid, "", "task %s is not running on instance %s", req.TaskID, req.Instance)
	}
	role := ""
	if t.Task.Overrides != nil {
		role = t.Task.Overrides.TaskRoleArn
	}
	if role == "" {
		td, err := state.Get[state.TaskDef](ctx, is.cfg.Store, state.TaskDefKey(t.Family, t.Revision))
		if err != nil {
			return Credentials{}, err
		}
		role = td.Value.TaskDefinition.TaskRoleArn
	}
	if role == "" {
		return Credentials{}, core.Errorf(core.KindInvalid, "", "task %s has no taskRoleArn", req.TaskID)
	}
	return is.Issue(req.Cluster, req.TaskID, role), nil
}

// Keys is a KeyStore of the permanent keys and the task credentials.
func (is *Issuer) Keys(permanent awsproto.KeyStore) awsproto.TokenKeyStore {
	return keys{permanent, is}
}

type keys struct {
	awsproto.KeyStore
	is *Issuer
}

func (k keys) LookupToken(akid, token string) (awsproto.Principal, bool) {
	return k.is.Principal(akid, token)
}
