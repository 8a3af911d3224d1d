// Command stockregistry is the CNCF distribution registry server, built
// from the module minato embeds (github.com/distribution/distribution/v3),
// as `registry serve` runs it: the registry package's server over the
// filesystem storage driver. bench/regbench runs it beside minato as the
// reference. It is given its best case: no authentication, no access log,
// logging at error level, no tracing exporter.
//
//	stockregistry -addr 127.0.0.1:5000 -dir /tmp/stock
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:5000", "listen address")
	dir := flag.String("dir", "", "storage root directory")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "stockregistry: -dir is required")
		os.Exit(2)
	}
	os.Setenv("OTEL_TRACES_EXPORTER", "none")
	conf := &configuration.Configuration{}
	conf.Version = "0.1"
	conf.Log.Level = "error"
	conf.Log.AccessLog.Disabled = true
	conf.HTTP.Addr = *addr
	conf.HTTP.Secret = "regbench-stock-registry-secret"
	conf.Storage = configuration.Storage{
		"filesystem": configuration.Parameters{"rootdirectory": *dir},
		"delete":     configuration.Parameters{"enabled": true},
		"redirect":   configuration.Parameters{"disable": true},
	}
	reg, err := registry.NewRegistry(context.Background(), conf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stockregistry:", err)
		os.Exit(1)
	}
	if err := reg.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "stockregistry:", err)
		os.Exit(1)
	}
}
