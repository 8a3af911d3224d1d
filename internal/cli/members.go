package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/minato-project/minato/internal/controlplane"
)

// runMembers is `minato server members`: it asks a server for the servers
// sharing its store, the leader and the store's members, and prints them.
func runMembers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("server members", stderr)
	server := fs.String("server", "http://127.0.0.1:7400", "URL of any of the servers")
	asJSON := fs.Bool("json", false, "print the answer as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(*server, "/")+controlplane.MembersPath, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s %s", *server, resp.Status, strings.TrimSpace(string(b)))
	}
	if *asJSON {
		_, err := stdout.Write(b)
		return err
	}
	var m controlplane.Members
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%s: %w", *server, err)
	}
	printMembers(stdout, m, time.Now())
	return nil
}

func printMembers(w io.Writer, m controlplane.Members, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tAPI\tLEADER\tAGENTS\tLAST SEEN\tVERSION")
	for _, s := range m.Servers {
		lead := ""
		if s.Name == m.Leader {
			lead = "*"
		}
		seen := now.Sub(s.At).Round(time.Second).String() + " ago"
		if s.Name == m.Self {
			seen += " (answered)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", s.Name, s.APIURL, lead, len(s.Agents), seen, s.Version)
	}
	tw.Flush()
	if m.Leader == "" {
		fmt.Fprintln(w, "\nno server leads now: the controllers are paused")
	}
	if !m.Shared {
		fmt.Fprintln(w, "\nthe server is alone on its own store (bbolt)")
		return
	}
	if len(m.Store) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ETCD MEMBER\tENDPOINT\tLEADER\tHEALTH")
		for _, s := range m.Store {
			lead, health := "", "healthy"
			if s.Leader {
				lead = "*"
			}
			if !s.Healthy {
				health = "unhealthy"
				if s.Error != "" {
					health += ": " + s.Error
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Endpoint, lead, health)
		}
		tw.Flush()
	}
}
