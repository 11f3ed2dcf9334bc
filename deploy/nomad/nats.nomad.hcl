# perkbus NATS cluster: three nats-server nodes with JetStream (file storage), one per
# Nomad client, run by the exec driver from the official release archive.
#
#   nomad job run deploy/nomad/nats.nomad.hcl
#
# Each client that may run a node needs, in its agent configuration, the host volume that
# holds JetStream data and a system user that owns it (see README.md):
#
#   client {
#     host_volume "nats-data" {
#       path      = "/var/lib/perkbus-nats"
#       read_only = false
#     }
#   }
#
# The server configuration is rendered by the template below. It carries the subject
# mapping that partitions requests by tenant; the 64 in partition(64,1) must equal
# PERKBUS_NATS_PARTITIONS of the actor hosts (actors.nomad.hcl, variable nats_partitions),
# and must match deploy/nomad/nats-server.conf.

variable "datacenters" {
  description = "Datacenters the NATS nodes may run in."
  type        = list(string)
  default     = ["*"]
}

variable "nats_version" {
  description = "nats-server release to run, without the leading v."
  type        = string
  default     = "2.15.1"
}

variable "nats_artifact_url" {
  description = "URL of the nats-server release archive. {version} becomes nats_version and {arch} the client's CPU architecture (amd64, arm64). A mirror must keep the release layout: a tar.gz holding nats-server-v{version}-linux-{arch}/nats-server."
  type        = string
  default     = "https://github.com/nats-io/nats-server/releases/download/v{version}/nats-server-v{version}-linux-{arch}.tar.gz"
}

variable "nats_artifact_checksum" {
  description = "go-getter checksum of the archive: sha256:<hex>, or file:<URL of a SHA256SUMS file> ({version} is replaced)."
  type        = string
  default     = "file:https://github.com/nats-io/nats-server/releases/download/v{version}/SHA256SUMS"
}

variable "nats_user" {
  description = "System user the server runs as; it must own the host volume's directory."
  type        = string
  default     = "nats"
}

variable "host_volume" {
  description = "Client host volume (client.host_volume) that holds JetStream's store_dir."
  type        = string
  default     = "nats-data"
}

variable "routes" {
  description = "Static cluster routes as host:port (e.g. [\"10.0.0.11:6222\", ...]). Empty: discover the other nodes through the Nomad service perkbus-nats-cluster."
  type        = list(string)
  default     = []
}

variable "jetstream_max_file_store" {
  description = "JetStream file storage limit per node (NATS size syntax)."
  type        = string
  default     = "20GB"
}

variable "jetstream_max_memory_store" {
  description = "JetStream memory storage limit per node (NATS size syntax)."
  type        = string
  default     = "1GB"
}

variable "cpu" {
  description = "CPU reserved per node, in MHz."
  type        = number
  default     = 1000
}

variable "memory" {
  description = "Memory reserved per node, in MB."
  type        = number
  default     = 2048
}

locals {
  # "$${...}" is left as "${...}" for the Nomad client to fill in, per node.
  nats_artifact_source = replace(replace(var.nats_artifact_url, "{version}", var.nats_version), "{arch}", "$${attr.cpu.arch}")
  nats_checksum        = replace(var.nats_artifact_checksum, "{version}", var.nats_version)
  nats_binary          = "local/nats-server-v${var.nats_version}-linux-$${attr.cpu.arch}/nats-server"
}

job "perkbus-nats" {
  datacenters = var.datacenters
  type        = "service"
  # Infrastructure the rest of perkbus depends on: schedule it ahead of the app jobs.
  priority = 80

  meta {
    nats_version = var.nats_version
  }

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  group "nats" {
    count = 3

    # One node per Nomad client: a JetStream cluster that loses one host keeps quorum.
    constraint {
      operator = "distinct_hosts"
      value    = "true"
    }

    network {
      port "client" {
        static = 4222
      }
      port "cluster" {
        static = 6222
      }
      port "monitor" {
        static = 8222
      }
    }

    volume "data" {
      type      = "host"
      source    = var.host_volume
      read_only = false
    }

    # One node at a time, and only once the previous one answers /healthz again (which
    # includes having caught up with the JetStream meta group).
    update {
      max_parallel      = 1
      health_check      = "checks"
      min_healthy_time  = "30s"
      healthy_deadline  = "5m"
      progress_deadline = "10m"
      auto_revert       = true
      stagger           = "30s"
    }

    # A stateful server: keep retrying in place rather than giving up.
    restart {
      attempts = 5
      interval = "10m"
      delay    = "15s"
      mode     = "delay"
    }

    task "nats-server" {
      driver = "exec"
      user   = var.nats_user

      # SIGUSR2 puts nats-server in lame-duck mode: it stops accepting clients, moves
      # JetStream leadership away, closes client connections over lame_duck_duration
      # (30s at least) so that they reconnect to the other nodes, then exits.
      # kill_timeout covers grace period + duration + shutdown. Nomad caps it at the
      # client's max_kill_timeout, 30s by default: raise that to 60s on the NATS clients,
      # or lame-duck mode is cut short (clients still reconnect; JetStream then
      # recovers its files at the next start).
      kill_signal  = "SIGUSR2"
      kill_timeout = "50s"

      artifact {
        source      = local.nats_artifact_source
        destination = "local/"
        options {
          checksum = local.nats_checksum
        }
      }

      volume_mount {
        volume      = "data"
        destination = "/data"
        read_only   = false
      }

      config {
        command = local.nats_binary
        args    = ["--config", "${NOMAD_TASK_DIR}/nats-server.conf"]
      }

      env {
        # Comma-separated static routes; read by the template below.
        NATS_STATIC_ROUTES = join(",", var.routes)
      }

      # The server configuration. The delimiters are [[ ]] so that the subject mapping's
      # {{partition(64,1)}}, {{wildcard(1)}} and {{wildcard(2)}} reach nats-server
      # verbatim instead of being read as template actions. Route changes (a node moved
      # or was added) are applied with SIGHUP, which nats-server reloads without a restart.
      template {
        destination     = "local/nats-server.conf"
        left_delimiter  = "[["
        right_delimiter = "]]"
        change_mode     = "signal"
        change_signal   = "SIGHUP"
        splay           = "10s"

        wait {
          min = "2s"
          max = "10s"
        }

        data = <<-EOF
          # Rendered by Nomad from deploy/nomad/nats.nomad.hcl; do not edit on the host.

          # The JetStream peer identity: unique in the cluster and stable across restarts
          # (the host volume keeps the node's data, so the name follows the node).
          server_name: "[[ env "node.unique.name" ]]"

          listen: "[[ env "NOMAD_ADDR_client" ]]"
          http: "[[ env "NOMAD_ADDR_monitor" ]]"

          max_payload: 8MB
          lame_duck_grace_period: "10s"
          lame_duck_duration: "30s"

          jetstream {
            store_dir: "/data"
            max_file_store: ${var.jetstream_max_file_store}
            max_memory_store: ${var.jetstream_max_memory_store}
          }

          cluster {
            name: "perkbus"
            listen: "[[ env "NOMAD_ADDR_cluster" ]]"
            routes: [
          [[- $static := env "NATS_STATIC_ROUTES" ]]
          [[- if $static ]]
          [[- range $static | split "," ]]
              "nats-route://[[ . ]]"
          [[- end ]]
          [[- else ]]
              # This node first, so that the list is never empty (JetStream clustering
              # needs a configured route); nats-server ignores a route to itself.
              "nats-route://[[ env "NOMAD_ADDR_cluster" ]]"
          [[- range nomadService "perkbus-nats-cluster" ]]
          [[- if ne .Address (env "NOMAD_IP_cluster") ]]
              "nats-route://[[ .Address ]]:[[ .Port ]]"
          [[- end ]]
          [[- end ]]
          [[- end ]]
            ]
          }

          # Requests go to pb.rpc.<tenant>.<kind>; the server maps them, by a hash of the
          # tenant, onto pb.rpcp.<partition>.<tenant>.<kind>, and each actor host
          # subscribes to the partitions it serves. 64 must equal PERKBUS_NATS_PARTITIONS.
          mappings = {
            "pb.rpc.*.*": "pb.rpcp.{{partition(64,1)}}.{{wildcard(1)}}.{{wildcard(2)}}"
          }
        EOF
      }

      # Clients (actor hosts, edges) find the cluster through this service.
      service {
        name     = "perkbus-nats"
        provider = "nomad"
        port     = "client"
        tags     = ["nats", "client"]

        # /healthz answers 200 once the server is up and JetStream is current. It gates
        # rolling updates; there is deliberately no check_restart: restarting a node
        # because the cluster has no JetStream quorum would only make things worse.
        check {
          name     = "nats-healthz"
          type     = "http"
          port     = "monitor"
          path     = "/healthz"
          interval = "10s"
          timeout  = "3s"
        }
      }

      # The other nodes discover this one's route address through this service.
      service {
        name     = "perkbus-nats-cluster"
        provider = "nomad"
        port     = "cluster"
        tags     = ["nats", "cluster"]
      }

      # Monitoring endpoint (/varz, /jsz, /healthz) for scrapers and operators.
      service {
        name     = "perkbus-nats-monitor"
        provider = "nomad"
        port     = "monitor"
        tags     = ["nats", "monitor"]
      }

      resources {
        cpu    = var.cpu
        memory = var.memory
      }
    }
  }
}
