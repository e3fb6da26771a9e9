// The interoperability tests' third-party vCenter: govmomi's simulator with a VPX inventory and
// its vAPI (/rest) endpoints, content library included, served over TLS with a certificate the
// tests made (the simulator's own is RSA-1024, which rustls refuses). `cargo xtask vcsim` builds
// it from Debian's golang and govmomi packages into target/vcsim-deb.
//
// It prints GOVC_URL=… and one DATASTORE=… line per datastore, then serves until SIGINT or
// SIGTERM, and removes the inventory's temporary folders on the way out.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/vmware/govmomi/simulator"
	_ "github.com/vmware/govmomi/vapi/simulator"
)

func main() {
	listen := flag.String("l", "127.0.0.1:0", "address to listen on")
	certFile := flag.String("tlscert", "", "PEM certificate to serve (default: the simulator's own)")
	keyFile := flag.String("tlskey", "", "PEM private key of -tlscert")
	flag.Parse()

	model := simulator.VPX()
	if err := model.Create(); err != nil {
		log.Fatalf("creating the inventory: %v", err)
	}
	defer model.Remove()
	model.Service.RegisterEndpoints = true
	model.Service.Listen = &url.URL{Host: *listen}
	model.Service.TLS = &tls.Config{}
	if *certFile != "" {
		pair, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			log.Fatalf("loading -tlscert and -tlskey: %v", err)
		}
		model.Service.TLS.Certificates = []tls.Certificate{pair}
	}
	server := model.Service.NewServer()
	defer server.Close()

	fmt.Printf("GOVC_URL=%s\n", server.URL)
	for _, datastore := range simulator.Map.All("Datastore") {
		fmt.Printf("DATASTORE=%s\n", datastore.Reference().Value)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
}
