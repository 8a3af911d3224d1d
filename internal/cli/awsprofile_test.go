package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSetINISection(t *testing.T) {
	keys := []iniKey{{"region", "us-east-1"}, {"endpoint_url", "http://127.0.0.1:7400"}}
	tests := []struct {
		name, in, header, want string
		drop                   []string
	}{
		{"empty file", "", "profile minato", "# written by minato (--write-aws-profile)\n[profile minato]\n" +
			"region = us-east-1\nendpoint_url = http://127.0.0.1:7400\n", nil},
		{"appended after other sections, comments kept",
			"# my settings\n[default]\nregion = eu-west-1 ; mine\noutput = json",
			"profile minato",
			"# my settings\n[default]\nregion = eu-west-1 ; mine\noutput = json\n\n# written by minato (--write-aws-profile)\n" +
				"[profile minato]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:7400\n", nil},
		{"replaced in place, other keys and comments of the section kept",
			"[default]\nregion = eu-west-1\n\n[profile  minato]\n# old one\nendpoint_url = http://127.0.0.1:7000   # aws CLI >= 2.13\n" +
				"output = text\nREGION: ap-northeast-1\n\n[profile other]\nregion = us-west-2\n",
			"profile minato",
			"[default]\nregion = eu-west-1\n\n[profile  minato]\n# old one\nendpoint_url = http://127.0.0.1:7400\n" +
				"output = text\nregion = us-east-1\n\n[profile other]\nregion = us-west-2\n", nil},
		{"missing keys go after the section's last line, before the blank lines",
			"[profile minato]\noutput = json\n\n\n[profile other]\nregion = x\n", "profile minato",
			"[profile minato]\noutput = json\nregion = us-east-1\nendpoint_url = http://127.0.0.1:7400\n\n\n[profile other]\nregion = x\n", nil},
		{"continuation lines of a replaced key go, nested sections of others stay",
			"[profile minato]\nendpoint_url =\n  old\ns3 =\n  addressing_style = path\n", "profile minato",
			"[profile minato]\nendpoint_url = http://127.0.0.1:7400\ns3 =\n  addressing_style = path\nregion = us-east-1\n", nil},
		{"dropped keys and duplicates removed",
			"[minato]\naws_session_token = old\nregion = a\nregion = b\n", "minato",
			"[minato]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:7400\n", []string{"aws_session_token"}},
		{"a section named like the key's value is not the section", "[profile minato-2]\nregion = x\n", "profile minato",
			"[profile minato-2]\nregion = x\n\n# written by minato (--write-aws-profile)\n[profile minato]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:7400\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := setINISection(tt.in, tt.header, keys, tt.drop)
			if got != tt.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tt.want)
			}
			if again := setINISection(got, tt.header, keys, tt.drop); again != got {
				t.Fatalf("a second write changed the file:\n%s", again)
			}
		})
	}
}

func TestWriteAWSProfile(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "aws", "config")
	creds := filepath.Join(dir, "aws", "credentials")
	env := map[string]string{"AWS_CONFIG_FILE": config, "AWS_SHARED_CREDENTIALS_FILE": creds}
	if err := os.MkdirAll(filepath.Dir(config), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(creds, []byte("# keep me\n[work]\naws_access_key_id = AKIAWORK\naws_secret_access_key = w\n\n"+
		"[dev]\naws_access_key_id = AKIAOLD\naws_secret_access_key = old\naws_session_token = stale\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := awsProfile{name: "dev", region: "us-east-1", endpoint: "http://127.0.0.1:7400", keyID: "AKIANEW", secret: "new"}
	gotConfig, gotCreds, err := writeAWSProfile(p, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if gotConfig != config || gotCreds != creds {
		t.Fatalf("paths %s %s", gotConfig, gotCreds)
	}
	want := map[string]string{
		config: "# written by minato (--write-aws-profile)\n[profile dev]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:7400\n",
		creds: "# keep me\n[work]\naws_access_key_id = AKIAWORK\naws_secret_access_key = w\n\n" +
			"[dev]\naws_access_key_id = AKIANEW\naws_secret_access_key = new\n",
	}
	for path, w := range want {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != w {
			t.Errorf("%s:\n%s\nwant:\n%s", path, b, w)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", path, st.Mode().Perm())
		}
	}
	ents, _ := os.ReadDir(filepath.Dir(config))
	if len(ents) != 2 {
		t.Errorf("temporary files left: %v", ents)
	}

	// The default profile is [default] in both files; ~/.aws is made.
	home := t.TempDir()
	t.Setenv("HOME", home)
	p.name = "default"
	if _, _, err := writeAWSProfile(p, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(home, ".aws", "config"))
	if err != nil || !strings.Contains(string(b), "\n[default]\nregion = us-east-1\n") {
		t.Fatalf("~/.aws/config: %v\n%s", err, b)
	}
	if st, err := os.Stat(filepath.Join(home, ".aws")); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("~/.aws: %v %v", err, st)
	}
}

func TestWriteAWSProfileFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "dotfiles-config")
	if err := os.WriteFile(real, []byte("[default]\nregion = x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "config")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AWS_CONFIG_FILE": link, "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials")}
	if _, _, err := writeAWSProfile(awsProfile{name: "m", region: "r", endpoint: "e", keyID: "k", secret: "s"},
		func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the symlink was replaced: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(real); !strings.Contains(string(b), "[profile m]") {
		t.Fatalf("the link's target was not updated:\n%s", b)
	}
}

func TestCheckProfileName(t *testing.T) {
	for _, ok := range []string{"minato", "default", "dev-1", "team.prod"} {
		if err := checkProfileName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a b", "a]", "[a", "a#b", "a\nb"} {
		if err := checkProfileName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// A profile that cannot be written stops the node with the reason.
func TestWriteAWSProfileFailureStopsTheNode(t *testing.T) {
	dir := t.TempDir()
	notADir := filepath.Join(dir, "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(notADir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	n := startMain(t, "server", "--write-aws-profile", "m", "--data-dir", filepath.Join(dir, "data"), "--api-addr", "127.0.0.1:0")
	select {
	case code := <-n.done:
		n.done <- code
		if code != 1 || !strings.Contains(n.errOut.String(), "--write-aws-profile") || strings.Contains(n.out.String(), "minato is up") {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, n.out, n.errOut)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the node kept running:\n%s", n.errOut)
	}
}
