// Package pki manages the TLS material of a development controller.
//
// A Juju client that is given a CA certificate verifies the API server with
// the TLS server name "juju-apiserver", whatever address it dialled, so every
// controller certificate must carry that name as a SAN. LoadOrCreate keeps a
// small self-signed CA and a server certificate signed by it in a directory,
// creating them on first use, reusing them afterwards and re-issuing only the
// server certificate when the set of host names or addresses changes or it is
// close to expiry.
//
// GenerateCA and (*CA).IssueServerCert make throwaway CAs and certificates in
// memory, for tests of other packages (for example an HTTPS server that must
// be trusted through a pinned CA).
package pki
