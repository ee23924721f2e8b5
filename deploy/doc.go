// Package deploy holds the tests of apimgw's deployment files: the Helm
// chart (rendered with helm and decoded strictly with the Kubernetes API
// types), the manifests rendered from it, the systemd unit, and a fleet of
// three gateways on one Redis running the chart's configuration.
//
// It is a module of its own so that the gateway's go.mod does not carry
// Kubernetes and Helm. Run its tests with: cd deploy && go test ./...
package deploy
