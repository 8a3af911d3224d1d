package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// awsProfile is what `--write-aws-profile NAME` keeps in the shared AWS
// config files: the region and endpoint in ~/.aws/config, the key pair in
// ~/.aws/credentials, as every AWS client reads them.
type awsProfile struct {
	name, region, endpoint string
	keyID, secret          string
}

// checkProfileName refuses a name the config files cannot hold.
func checkProfileName(name string) error {
	if name == "" || strings.ContainsAny(name, " \t\r\n[]#;=") {
		return fmt.Errorf("--write-aws-profile %q: want a profile name without spaces, brackets, '#', ';' or '='", name)
	}
	return nil
}

// awsConfigPaths returns where the AWS clients read their config and
// credentials: $AWS_CONFIG_FILE and $AWS_SHARED_CREDENTIALS_FILE, else
// ~/.aws/config and ~/.aws/credentials.
func awsConfigPaths(getenv func(string) string) (config, credentials string, err error) {
	home, herr := os.UserHomeDir()
	path := func(env, def string) (string, error) {
		p := getenv(env)
		if p == "" {
			if herr != nil {
				return "", fmt.Errorf("no home directory for ~/.aws (set $%s): %w", env, herr)
			}
			return filepath.Join(home, ".aws", def), nil
		}
		if rest, ok := strings.CutPrefix(p, "~/"); ok && herr == nil {
			p = filepath.Join(home, rest)
		}
		return p, nil
	}
	if config, err = path("AWS_CONFIG_FILE", "config"); err != nil {
		return "", "", err
	}
	credentials, err = path("AWS_SHARED_CREDENTIALS_FILE", "credentials")
	return config, credentials, err
}

// writeAWSProfile writes (or updates) [profile NAME] in the config file
// and [NAME] in the credentials file, keeping every other section and
// comment, and returns the two paths.
func writeAWSProfile(p awsProfile, getenv func(string) string) (config, credentials string, err error) {
	config, credentials, err = awsConfigPaths(getenv)
	if err != nil {
		return "", "", err
	}
	header := "profile " + p.name
	if p.name == "default" { // the config file names the default profile without the prefix
		header = "default"
	}
	err = updateFile(config, func(text string) string {
		return setINISection(text, header, []iniKey{{"region", p.region}, {"endpoint_url", p.endpoint}}, nil)
	})
	if err != nil {
		return "", "", err
	}
	err = updateFile(credentials, func(text string) string {
		// A session token left from other keys would be sent along with
		// these and refused.
		return setINISection(text, p.name, []iniKey{{"aws_access_key_id", p.keyID}, {"aws_secret_access_key", p.secret}},
			[]string{"aws_session_token"})
	})
	return config, credentials, err
}

// updateFile replaces the file at path (following a symlink) with
// edit(its text), atomically: a temporary file in the same directory,
// mode 0600, synced, then renamed over it.
func updateFile(path string, edit func(string) string) error {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".minato-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename there is nothing left to remove
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(edit(string(old))); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// iniKey is one key = value line.
type iniKey struct{ name, value string }

// setINISection returns text with the section [header] holding keys:
// a key the section has is replaced where it stands (with its
// continuation lines), one it lacks is added after its last line, and the
// keys named in drop are removed. A missing section is added at the end.
// Every other line (other sections, comments, blank lines) is kept as it
// is. Section names are compared as the AWS clients compare them: runs of
// spaces inside the brackets count as one.
func setINISection(text, header string, keys []iniKey, drop []string) string {
	var lines []string
	if text != "" {
		lines = strings.SplitAfter(text, "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		if last := lines[len(lines)-1]; !strings.HasSuffix(last, "\n") {
			lines[len(lines)-1] = last + "\n"
		}
	}
	want := strings.Join(strings.Fields(header), " ")
	start := -1 // the index of the section's header line
	for i, l := range lines {
		if name, ok := iniHeader(l); ok && name == want {
			start = i
			break
		}
	}
	if start < 0 {
		var b strings.Builder
		for _, l := range lines {
			b.WriteString(l)
		}
		if len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) != "" {
			b.WriteString("\n")
		}
		b.WriteString("# written by minato (--write-aws-profile)\n[" + header + "]\n")
		for _, k := range keys {
			b.WriteString(k.name + " = " + k.value + "\n")
		}
		return b.String()
	}
	end := len(lines) // the index after the section's last line
	for i := start + 1; i < len(lines); i++ {
		if _, ok := iniHeader(lines[i]); ok {
			end = i
			break
		}
	}
	done := map[string]bool{}
	body := []string{}
	skipping := false // dropping the continuation lines of a replaced key
	for _, l := range lines[start+1 : end] {
		if skipping && isContinuation(l) {
			continue
		}
		skipping = false
		name, ok := iniKeyName(l)
		if !ok {
			body = append(body, l)
			continue
		}
		if slices.Contains(drop, name) || done[name] {
			skipping = true
			continue
		}
		replaced := false
		for _, k := range keys {
			if k.name == name {
				body = append(body, k.name+" = "+k.value+"\n")
				done[name], replaced, skipping = true, true, true
				break
			}
		}
		if !replaced {
			body = append(body, l)
		}
	}
	// Keys the section lacked go after its last non-blank line, before
	// the blank lines that separate it from the next section.
	last := len(body)
	for last > 0 && strings.TrimSpace(body[last-1]) == "" {
		last--
	}
	var added []string
	for _, k := range keys {
		if !done[k.name] {
			added = append(added, k.name+" = "+k.value+"\n")
		}
	}
	body = append(body[:last], append(added, body[last:]...)...)

	var b strings.Builder
	for _, l := range lines[:start+1] {
		b.WriteString(l)
	}
	for _, l := range body {
		b.WriteString(l)
	}
	for _, l := range lines[end:] {
		b.WriteString(l)
	}
	return b.String()
}

// iniHeader returns the name inside a [section] line.
func iniHeader(line string) (string, bool) {
	s := strings.TrimSpace(line)
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return "", false
	}
	return strings.Join(strings.Fields(s[1:len(s)-1]), " "), true
}

// iniKeyName returns the key a "key = value" (or "key: value") line sets,
// lower-cased as the clients' parser does.
func iniKeyName(line string) (string, bool) {
	if isContinuation(line) {
		return "", false
	}
	s := strings.TrimSpace(line)
	if s == "" || s[0] == '#' || s[0] == ';' {
		return "", false
	}
	i := strings.IndexAny(s, "=:")
	if i <= 0 {
		return "", false
	}
	return strings.ToLower(strings.TrimSpace(s[:i])), true
}

// isContinuation reports whether a line continues the value above it
// (it is indented and not blank), as in the config file's nested sections.
func isContinuation(line string) bool {
	return (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) && strings.TrimSpace(line) != ""
}
