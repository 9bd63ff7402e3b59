// Command kube-apiserver is the real Kubernetes API server, built from k8s.io/kubernetes at the
// release pinned in go.mod, for the project's test control plane.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
