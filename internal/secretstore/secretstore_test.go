package secretstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minato-project/minato/internal/secretstore"
	"github.com/minato-project/minato/internal/state"
	"github.com/minato-project/minato/internal/store"
	"github.com/minato-project/minato/internal/store/bolt"
)

func mustKey(t *testing.T) secretstore.Key {
	t.Helper()
	k, err := secretstore.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k := mustKey(t)
	ring := secretstore.NewKeyring(k)
	aad := secretstore.SecretAAD("db", "v1")
	s, err := ring.Seal([]byte("hunter2"), aad)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID != k.ID() || bytes.Contains(s.Ciphertext, []byte("hunter2")) || len(s.WrappedKey) != 12+32+16 {
		t.Fatalf("sealed: %+v", s)
	}
	got, err := ring.Open(s, aad)
	if err != nil || string(got) != "hunter2" {
		t.Fatalf("open: %q %v", got, err)
	}
	// Two seals of one value differ (fresh data key and nonces).
	s2, _ := ring.Seal([]byte("hunter2"), aad)
	if bytes.Equal(s.Ciphertext, s2.Ciphertext) || bytes.Equal(s.WrappedKey, s2.WrappedKey) {
		t.Fatal("seal is deterministic")
	}
	// The value is bound to its record: other additional data fails.
	if _, err := ring.Open(s, secretstore.SecretAAD("db", "v2")); !errors.Is(err, secretstore.ErrDecrypt) {
		t.Fatalf("open with other aad: %v", err)
	}
	// Tampering fails.
	bad := s
	bad.Ciphertext = append([]byte(nil), s.Ciphertext...)
	bad.Ciphertext[len(bad.Ciphertext)-1] ^= 1
	if _, err := ring.Open(bad, aad); !errors.Is(err, secretstore.ErrDecrypt) {
		t.Fatalf("tampered ciphertext: %v", err)
	}
	bad = s
	bad.WrappedKey = append([]byte(nil), s.WrappedKey...)
	bad.WrappedKey[20] ^= 1
	if _, err := ring.Open(bad, aad); !errors.Is(err, secretstore.ErrDecrypt) {
		t.Fatalf("tampered wrapped key: %v", err)
	}
	bad = s
	bad.Ciphertext = s.Ciphertext[:5]
	if _, err := ring.Open(bad, aad); !errors.Is(err, secretstore.ErrDecrypt) {
		t.Fatalf("short ciphertext: %v", err)
	}
	// Another master key cannot open it.
	if _, err := secretstore.NewKeyring(mustKey(t)).Open(s, aad); !errors.Is(err, secretstore.ErrUnknownKey) {
		t.Fatalf("other key: %v", err)
	}
}

func TestRewrapKeepsCiphertext(t *testing.T) {
	old, next := mustKey(t), mustKey(t)
	s, err := secretstore.NewKeyring(old).Seal([]byte("v"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ring := secretstore.NewKeyring(next, old)
	r, changed, err := ring.Rewrap(s)
	if err != nil || !changed || r.KeyID != next.ID() || !bytes.Equal(r.Ciphertext, s.Ciphertext) {
		t.Fatalf("rewrap: %v %v %+v", err, changed, r)
	}
	if _, changed, _ := ring.Rewrap(r); changed {
		t.Fatal("rewrap of a current value changed it")
	}
	// Only the new key is needed now.
	if v, err := secretstore.NewKeyring(next).Open(r, nil); err != nil || string(v) != "v" {
		t.Fatalf("open after rewrap: %q %v", v, err)
	}
}

func TestParseKey(t *testing.T) {
	raw := bytes.Repeat([]byte{7}, 32)
	k1, err := secretstore.NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{
		"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
		"0707070707070707070707070707070707070707070707070707070707070707",
		string(raw),
	} {
		k, err := secretstore.ParseKey([]byte(in))
		if err != nil || k.ID() != k1.ID() {
			t.Fatalf("ParseKey(%q): %v", in, err)
		}
	}
	for _, in := range []string{"", "short", "BwcHBwc="} {
		if _, err := secretstore.ParseKey([]byte(in)); err == nil {
			t.Fatalf("ParseKey(%q) accepted", in)
		}
	}
}

func TestLoadKeyringDataDir(t *testing.T) {
	dir := t.TempDir()
	r1, err := secretstore.LoadKeyring(secretstore.KeySource{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, secretstore.KeyFileName)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", err, fi)
	}
	r2, err := secretstore.LoadKeyring(secretstore.KeySource{DataDir: dir})
	if err != nil || r2.Current().ID() != r1.Current().ID() {
		t.Fatalf("reload: %v", err)
	}
	os.Chmod(path, 0o644)
	if _, err := secretstore.LoadKeyring(secretstore.KeySource{DataDir: dir}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key file accepted: %v", err)
	}
	os.Chmod(path, 0o600)

	// The environment and an operator's file win over the data dir.
	k := mustKey(t)
	env := "0707070707070707070707070707070707070707070707070707070707070707"
	r, err := secretstore.LoadKeyring(secretstore.KeySource{EnvValue: env, DataDir: dir})
	if err != nil || r.Current().ID() == r1.Current().ID() {
		t.Fatalf("env key: %v", err)
	}
	f := filepath.Join(t.TempDir(), "k")
	os.WriteFile(f, k.Bytes(), 0o600)
	r, err = secretstore.LoadKeyring(secretstore.KeySource{File: f, DataDir: dir})
	if err != nil || r.Current().ID() != k.ID() {
		t.Fatalf("file key: %v", err)
	}
	if _, err := secretstore.LoadKeyring(secretstore.KeySource{EnvValue: "nope"}); err == nil {
		t.Fatal("bad env key accepted")
	}
}

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "state.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// seed writes a JSON secret and a parameter sealed with ring.
func seed(t *testing.T, st store.Store, ring *secretstore.Keyring) {
	t.Helper()
	v := &secretstore.Vault{Store: st, Keys: ring}
	sealed, err := v.SealSecret("db-credentials", "ver-1", []byte(`{"host":"db.internal","port":5432,"password":"pw"}`))
	if err != nil {
		t.Fatal(err)
	}
	sec := state.Secret{Name: "db-credentials", ARN: "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:db-credentials-AbCdEf",
		Versions: []state.SecretVersion{{ID: "ver-1", Stages: []string{"AWSCURRENT"}, Value: sealed}}}
	put(t, st, state.SecretKey(sec.Name), sec)
	ps, err := v.SealParameter("/app/db/password", 1, "param-pw")
	if err != nil {
		t.Fatal(err)
	}
	put(t, st, state.ParameterKey("/app/db/password"), state.Parameter{Name: "/app/db/password",
		Versions: []state.ParameterVersion{{Version: 1, Type: "SecureString", Value: ps}}})
	ps, _ = v.SealParameter("plain", 1, "plain-value")
	put(t, st, state.ParameterKey("plain"), state.Parameter{Name: "plain",
		Versions: []state.ParameterVersion{{Version: 1, Type: "String", Value: ps}}})
}

func put(t *testing.T, st store.Store, key string, v any) {
	t.Helper()
	b, err := state.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Txn(context.Background(), nil, []store.Op{store.Put(key, b)}); err != nil {
		t.Fatal(err)
	}
}

func TestResolve(t *testing.T) {
	st := openStore(t)
	ring := secretstore.NewKeyring(mustKey(t))
	seed(t, st, ring)
	v := &secretstore.Vault{Store: st, Keys: ring}
	const arn = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:db-credentials-AbCdEf"
	for _, tc := range []struct{ valueFrom, want string }{
		{arn, `{"host":"db.internal","port":5432,"password":"pw"}`},
		{arn + ":host::", "db.internal"},
		{arn + ":port::", "5432"},
		{arn + ":password:AWSCURRENT:", "pw"},
		{arn + ":password::ver-1", "pw"},
		{"arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:db-credentials:host::", "db.internal"}, // partial ARN
		{"arn:aws:secretsmanager:ap-northeast-1:xxx:secret:db-credentials", `{"host":"db.internal","port":5432,"password":"pw"}`},
		{"/app/db/password", "param-pw"},
		{"arn:aws:ssm:ap-northeast-1:123456789012:parameter/app/db/password", "param-pw"},
		{"arn:aws:ssm:ap-northeast-1:123456789012:parameter/plain", "plain-value"},
		{"plain", "plain-value"},
		{"db-credentials", `{"host":"db.internal","port":5432,"password":"pw"}`}, // a secret by bare name
	} {
		got, err := v.Resolve(context.Background(), tc.valueFrom)
		if err != nil || got != tc.want {
			t.Errorf("Resolve(%s) = %q, %v; want %q", tc.valueFrom, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ valueFrom, wantErr string }{
		{arn + ":missing::", "did not contain json key missing"},
		{"arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:nope", "secret:nope"},
		{arn + "::AWSPENDING:", "staging label: AWSPENDING"},
		{"/app/db/nope", "invalid parameters: /app/db/nope"},
		{"arn:aws:s3:::bucket/key", "neither Secrets Manager nor SSM"},
		{"arn:aws:secretsmanager:r:a:secret:x:a:b:c:d", "not a Secrets Manager secret ARN"},
	} {
		_, err := v.Resolve(context.Background(), tc.valueFrom)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("Resolve(%s) error %v; want it to say %q", tc.valueFrom, err, tc.wantErr)
			continue
		}
		for _, val := range []string{"db.internal", "pw", "param-pw", "5432"} {
			if strings.Contains(err.Error(), val) {
				t.Errorf("Resolve(%s) error %q holds a value", tc.valueFrom, err)
			}
		}
	}
	// A secret scheduled for deletion cannot be resolved.
	it, _ := v.FindSecret(context.Background(), "db-credentials")
	sec := it.Value
	sec.DeletedAt = time.Now()
	put(t, st, it.Key, sec)
	if _, err := v.Resolve(context.Background(), arn+":host::"); err == nil || !strings.Contains(err.Error(), "marked for deletion") {
		t.Fatalf("resolve deleted: %v", err)
	}
}

func TestJSONKeyNeverQuotesTheSecret(t *testing.T) {
	_, err := secretstore.JSONKey([]byte("not json at all: topsecret"), "k")
	if err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Fatalf("err %v", err)
	}
	v, err := secretstore.JSONKey([]byte(`{"a":{"b":1},"n":true}`), "a")
	if err != nil || v != `{"b":1}` {
		t.Fatalf("nested: %q %v", v, err)
	}
}

func TestParseValueFrom(t *testing.T) {
	r, err := secretstore.ParseValueFrom("arn:aws:secretsmanager:ap-northeast-1:1:secret:db-AbCdEf:host:AWSPREVIOUS:v9")
	if err != nil || r.Service != "secretsmanager" || r.ID != "arn:aws:secretsmanager:ap-northeast-1:1:secret:db-AbCdEf" ||
		r.JSONKey != "host" || r.VersionStage != "AWSPREVIOUS" || r.VersionID != "v9" {
		t.Fatalf("%+v %v", r, err)
	}
	r, err = secretstore.ParseValueFrom("/copilot/app/env/secrets/db-password")
	if err != nil || r.Service != "" || r.ID != "/copilot/app/env/secrets/db-password" {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := secretstore.ParseValueFrom(""); err == nil {
		t.Fatal("empty accepted")
	}
}

func TestRotation(t *testing.T) {
	st := openStore(t)
	dir := t.TempDir()
	ring, err := secretstore.LoadKeyring(secretstore.KeySource{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	seed(t, st, ring)
	before, _ := st.Get(context.Background(), state.SecretKey("db-credentials"))

	oldID, newID, n, err := secretstore.RotateDataDir(context.Background(), st, dir)
	if err != nil || n != 3 || oldID != ring.Current().ID() || oldID == newID {
		t.Fatalf("rotate: %s %s %d %v", oldID, newID, n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, secretstore.NextKeyFileName)); !os.IsNotExist(err) {
		t.Fatalf("next key file left behind: %v", err)
	}
	ring2, err := secretstore.LoadKeyring(secretstore.KeySource{DataDir: dir})
	if err != nil || ring2.Current().ID() != newID || ring2.Has(oldID) {
		t.Fatalf("reload after rotation: %v", err)
	}
	if err := secretstore.CheckKeys(context.Background(), st, ring2); err != nil {
		t.Fatal(err)
	}
	if err := secretstore.CheckKeys(context.Background(), st, ring); err == nil {
		t.Fatal("the old key alone passes the check")
	}
	v := &secretstore.Vault{Store: st, Keys: ring2}
	for vf, want := range map[string]string{"db-credentials": `{"host":"db.internal","port":5432,"password":"pw"}`, "/app/db/password": "param-pw", "plain": "plain-value"} {
		if got, err := v.Resolve(context.Background(), vf); err != nil || got != want {
			t.Fatalf("after rotation %s: %q %v", vf, got, err)
		}
	}
	// Only the wrapped keys changed.
	after, _ := st.Get(context.Background(), state.SecretKey("db-credentials"))
	var s1, s2 state.Secret
	decode(t, before.Value, &s1)
	decode(t, after.Value, &s2)
	if !bytes.Equal(s1.Versions[0].Value.Ciphertext, s2.Versions[0].Value.Ciphertext) || bytes.Equal(s1.Versions[0].Value.WrappedKey, s2.Versions[0].Value.WrappedKey) {
		t.Fatal("rotation rewrote the ciphertext, or not the wrapped key")
	}

	// An interrupted rotation (the next key written, some values
	// re-wrapped) leaves every value readable, and running again finishes.
	next := mustKey(t)
	if err := secretstore.WriteKeyFile(filepath.Join(dir, secretstore.NextKeyFileName), next); err != nil {
		t.Fatal(err)
	}
	ring3, err := secretstore.LoadKeyring(secretstore.KeySource{DataDir: dir})
	if err != nil || !ring3.Has(next.ID()) || ring3.Current().ID() != newID {
		t.Fatalf("keyring during rotation: %v", err)
	}
	vals, _ := secretstore.KeyUse(context.Background(), st)
	if vals[newID] != 3 {
		t.Fatalf("key use: %v", vals)
	}
	_, id3, _, err := secretstore.RotateDataDir(context.Background(), st, dir)
	if err != nil || id3 != next.ID() {
		t.Fatalf("resumed rotation: %s %v", id3, err)
	}
	ring4, _ := secretstore.LoadKeyring(secretstore.KeySource{DataDir: dir})
	if got, err := (&secretstore.Vault{Store: st, Keys: ring4}).Resolve(context.Background(), "plain"); err != nil || got != "plain-value" {
		t.Fatalf("after resumed rotation: %q %v", got, err)
	}
}

func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := jsonUnmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
