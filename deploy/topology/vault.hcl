# Vault of the production topology (`npm run topology`, docs/topology.md): server mode with its state in
# integrated storage (raft) on disk, TLS with a certificate from the topology's CA, and sealed at every start.
# The tooling (topology/) fills in the ${...} placeholders with its ports and paths, refusing a name it does
# not know, then initializes, unseals and configures it (audit device, AppRole, policy, KV mounts);
# docker-compose.yml's `config` service renders this same file, and an operator does those steps
# (docs/deployment.md).

storage "raft" {
  path    = "${RAFT_DIR}"
  node_id = "topology-1"
  # HashiCorp's production value: raft's timeouts unscaled (the default, 5, suits slow development hosts).
  # Init and unseal wait for a leader election, which it shortens.
  performance_multiplier = 1
}

listener "tcp" {
  address         = "${LISTEN_IP}:${PORT}"
  cluster_address = "${LISTEN_IP}:${CLUSTER_PORT}"
  tls_cert_file   = "${TLS_CERT}"
  tls_key_file    = "${TLS_KEY}"
  tls_min_version = "tls12"
}

# How clients and the other raft nodes reach this one: loopback here, the service's name in compose.
api_addr     = "https://${API_HOST}:${PORT}"
cluster_addr = "https://${API_HOST}:${CLUSTER_PORT}"

# Integrated storage memory-maps its database, which mlock would pin whole; HashiCorp advises disabling it
# with raft. Swap is the host's to disable.
disable_mlock = true
ui            = false
