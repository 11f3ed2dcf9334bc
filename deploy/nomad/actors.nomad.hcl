# perkbus actor hosts: `perkbus actors`, run from the virtualenv perkbus is installed in.
#
#   nomad job run deploy/nomad/actors.nomad.hcl
#
# Needs the NATS cluster (nats.nomad.hcl) and the Nomad variable with the MySQL URL
# (README.md, "Secrets"). Actor hosts talk only to NATS and MySQL: they open no port.
#
# Partitions. The NATS server maps each request, by a hash of its tenant, onto one of
# PERKBUS_NATS_PARTITIONS partitions. A host subscribes to the partitions it serves
# (PERKBUS_ACTORS_PARTITIONS; empty means all) in the queue group "actors". Until
# partition leases (hosts claiming partitions with a TTL in a JetStream KV bucket) give
# each partition a single owner, run ONE host per partition set (the default below). Two
# hosts on the same partitions never overspend or lose an update — every state write is
# fenced by version, so the stale host's batch fails with a retryable error — but each
# host may answer reads from its own, older view, and contended actors see retries.
# To use more hosts now, split the partitions: run a second copy of this job with
# actors_partitions = "32,33,…,63" and the first with "0,…,31". (Hosts split this way
# on one MariaDB are tested: tests/integration/test_two_hosts.py. Before 2026-11-27 their
# group commits could deadlock on the outbox and the audit chain heads; ADR 33.)

variable "datacenters" {
  description = "Datacenters the actor hosts may run in."
  type        = list(string)
  default     = ["*"]
}

variable "actor_count" {
  description = "Number of actor hosts serving the same partitions (keep 1 until partition leases exist)."
  type        = number
  default     = 1
}

variable "driver" {
  description = "Task driver: exec (chroot; perkbus mounted from a host volume) or raw_exec."
  type        = string
  default     = "exec"

  validation {
    condition     = contains(["exec", "raw_exec"], var.driver)
    error_message = "The driver must be exec or raw_exec."
  }
}

variable "perkbus_command" {
  description = "Path of the perkbus command inside the virtualenv perkbus is installed in."
  type        = string
  default     = "/opt/perkbus/.venv/bin/perkbus"
}

variable "perkbus_install_volume" {
  description = "Client host volume holding the perkbus install (the directory of the virtualenv). exec mounts it read-only at perkbus_install_dir; it also keeps the job on clients that have perkbus. Empty: no volume."
  type        = string
  default     = "perkbus"
}

variable "perkbus_install_dir" {
  description = "Where the install volume is mounted in the task; must be the path the virtualenv was created at (its scripts name their interpreter by absolute path)."
  type        = string
  default     = "/opt/perkbus"
}

variable "perkbus_user" {
  description = "System user the actor host runs as."
  type        = string
  default     = "perkbus"
}

variable "secrets_path" {
  description = "Nomad variable holding mysql_url."
  type        = string
  default     = "nomad/jobs/perkbus"
}

variable "nats_service" {
  description = "Nomad service of the NATS cluster's client port."
  type        = string
  default     = "perkbus-nats"
}

variable "nats_partitions" {
  description = "PERKBUS_NATS_PARTITIONS: must equal N in the NATS mapping's partition(N,1) (64 in nats.nomad.hcl and nats-server.conf). Actor hosts refuse to start if they differ."
  type        = number
  default     = 64
}

variable "events_replicas" {
  type        = number
  default     = 3
  description = "PERKBUS_NATS_STREAM_REPLICAS: replicas of the PB_EVENTS stream (at most the NATS node count)."
}

variable "actors_partitions" {
  description = "PERKBUS_ACTORS_PARTITIONS: comma-separated partitions every host of this job serves; empty means all."
  type        = string
  default     = ""
}

variable "batch_max" {
  description = "PERKBUS_ACTORS_BATCH_MAX: most messages one actor decides before its batch is committed."
  type        = number
  default     = 256
}

variable "commit_max" {
  description = "PERKBUS_ACTORS_COMMIT_MAX: most actor batches one group commit writes in one transaction."
  type        = number
  default     = 1024
}

variable "idle_timeout_s" {
  description = "PERKBUS_ACTORS_IDLE_TIMEOUT_S: an actor idle this long is passivated."
  type        = number
  default     = 300
}

variable "mysql_pool_size" {
  description = "PERKBUS_MYSQL_POOL_SIZE: MySQL connections per actor host."
  type        = number
  default     = 8
}

variable "log_level" {
  description = "Log level (DEBUG, INFO, WARNING, ERROR)."
  type        = string
  default     = "INFO"
}

variable "cpu" {
  description = "CPU reserved per actor host, in MHz."
  type        = number
  default     = 1000
}

variable "memory" {
  description = "Memory reserved per actor host, in MB."
  type        = number
  default     = 1024
}

locals {
  mount_install = var.driver == "exec" && var.perkbus_install_volume != ""
}

job "perkbus-actors" {
  datacenters = var.datacenters
  type        = "service"

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  group "actors" {
    count = var.actor_count

    # Prefer different clients, so that losing one takes out one host.
    spread {
      attribute = "${node.unique.id}"
    }

    dynamic "volume" {
      for_each = var.perkbus_install_volume != "" ? [var.perkbus_install_volume] : []
      labels   = ["perkbus"]
      content {
        type      = "host"
        source    = volume.value
        read_only = true
      }
    }

    # One host at a time. A host exits at start-up if NATS, MySQL or the partition
    # mapping is wrong, so staying up for min_healthy_time is a real signal (actor hosts
    # have no port, hence no HTTP check; Nomad's own checks cannot run scripts).
    update {
      max_parallel      = 1
      health_check      = "task_states"
      min_healthy_time  = "20s"
      healthy_deadline  = "5m"
      progress_deadline = "10m"
      auto_revert       = true
    }

    restart {
      attempts = 3
      interval = "5m"
      delay    = "10s"
      mode     = "fail"
    }

    task "actors" {
      driver = var.driver
      user   = var.perkbus_user

      # On SIGTERM the host stops taking requests, finishes and commits everything it
      # has queued, publishes the outbox, then exits.
      kill_signal  = "SIGTERM"
      kill_timeout = "30s"

      dynamic "volume_mount" {
        for_each = local.mount_install ? [var.perkbus_install_dir] : []
        content {
          volume      = "perkbus"
          destination = volume_mount.value
          read_only   = true
        }
      }

      config {
        command = var.perkbus_command
        args    = ["--log-level", var.log_level, "actors"]
      }

      # Only PERKBUS_<SECTION>_<FIELD> names that are settings: perkbus refuses unknown ones.
      env {
        PERKBUS_NATS_PARTITIONS       = "${var.nats_partitions}"
        PERKBUS_NATS_STREAM_REPLICAS  = "${var.events_replicas}"
        PERKBUS_ACTORS_PARTITIONS     = var.actors_partitions
        PERKBUS_ACTORS_HOST_ID        = "${node.unique.name}-${NOMAD_SHORT_ALLOC_ID}"
        PERKBUS_ACTORS_BATCH_MAX      = "${var.batch_max}"
        PERKBUS_ACTORS_COMMIT_MAX     = "${var.commit_max}"
        PERKBUS_ACTORS_IDLE_TIMEOUT_S = "${var.idle_timeout_s}"
        PERKBUS_MYSQL_POOL_SIZE       = "${var.mysql_pool_size}"
        PERKBUS_VAR_DIR               = "${NOMAD_TASK_DIR}/var"
        PYTHONUNBUFFERED              = "1"
      }

      # PERKBUS_NATS_URL: one NATS node, picked by rendezvous hashing on the allocation
      # so that hosts spread over the nodes. The client learns the other nodes from the
      # server and fails over to them by itself, so a change here needs no restart; a
      # later restart picks up the current value.
      template {
        destination = "local/nats.env"
        env         = true
        change_mode = "noop"
        data        = <<-EOF
          {{- $alloc := env "NOMAD_ALLOC_ID" }}
          {{- range nomadService 1 $alloc "${var.nats_service}" }}
          PERKBUS_NATS_URL=nats://{{ .Address }}:{{ .Port }}
          {{- end }}
        EOF
      }

      # The shared stores' URLs from the Nomad variable. The task waits until the
      # variable exists and fails if it lacks one of the stores every host must share
      # (ledger, catalogue documents, tenant documents), so it can never fall back to a
      # file of its own.
      template {
        destination          = "secrets/stores.env"
        env                  = true
        change_mode          = "restart"
        splay                = "30s"
        error_on_missing_key = true
        data                 = <<-EOF
          {{ with nomadVar "${var.secrets_path}" }}
          PERKBUS_MYSQL_URL={{ .mysql_url | toJSON }}
          PERKBUS_CATALOGUE_URL={{ .catalogue_url | toJSON }}
          PERKBUS_TENANTDOCS_URL={{ .tenantdocs_url | toJSON }}
          PERKBUS_SECURITY_MASTER_KEY={{ .master_key | toJSON }}
          {{ end }}
        EOF
      }

      # Search (Elasticsearch) is optional: without search_url each host keeps its own
      # embedded index of everything, rebuilt by its indexer (ADR 24).
      template {
        destination = "secrets/search.env"
        env         = true
        change_mode = "restart"
        splay       = "30s"
        data        = <<-EOF
          {{ with nomadVar "${var.secrets_path}" }}{{ if .search_url }}PERKBUS_SEARCH_URL={{ .search_url | toJSON }}{{ end }}{{ end }}
        EOF
      }

      resources {
        cpu    = var.cpu
        memory = var.memory
      }
    }
  }
}
