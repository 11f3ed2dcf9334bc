# The perkbus warehouse: `perkbus warehouse`, run from the virtualenv perkbus is installed in.
#
#   nomad job run deploy/nomad/warehouse.nomad.hcl
#
# Needs the NATS cluster (nats.nomad.hcl), the actor hosts (which create the PB_EVENTS
# stream; the warehouse waits for it), and the Nomad variable with the warehouse URL
# (README.md, "Secrets"): PostgreSQL or Redshift. It loads PB_EVENTS into the reporting
# star schema and answers report requests (pb.rpt.<tenant>); it opens no port.
#
# ONE instance (ADR 26): the warehouse remembers how far it has loaded and applies each
# batch once, fenced by that sequence, so a second instance would only lose races for
# every batch. Killed at any moment, the next instance goes on from the last committed
# batch; meanwhile JetStream keeps the events and only reports lag.

variable "datacenters" {
  description = "Datacenters the warehouse may run in."
  type        = list(string)
  default     = ["*"]
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
  description = "System user the warehouse runs as."
  type        = string
  default     = "perkbus"
}

variable "secrets_path" {
  description = "Nomad variable holding warehouse_url."
  type        = string
  default     = "nomad/jobs/perkbus"
}

variable "nats_service" {
  description = "Nomad service of the NATS cluster's client port."
  type        = string
  default     = "perkbus-nats"
}

variable "log_level" {
  description = "Log level (DEBUG, INFO, WARNING, ERROR)."
  type        = string
  default     = "INFO"
}

variable "cpu" {
  description = "CPU reserved for the warehouse, in MHz."
  type        = number
  default     = 500
}

variable "memory" {
  description = "Memory reserved for the warehouse, in MB."
  type        = number
  default     = 512
}

locals {
  mount_install = var.driver == "exec" && var.perkbus_install_volume != ""
}

job "perkbus-warehouse" {
  datacenters = var.datacenters
  type        = "service"

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  group "warehouse" {
    count = 1

    dynamic "volume" {
      for_each = var.perkbus_install_volume != "" ? [var.perkbus_install_volume] : []
      labels   = ["perkbus"]
      content {
        type      = "host"
        source    = volume.value
        read_only = true
      }
    }

    update {
      max_parallel      = 1
      health_check      = "task_states"
      min_healthy_time  = "10s"
      healthy_deadline  = "5m"
      progress_deadline = "10m"
      auto_revert       = true
    }

    restart {
      attempts = 3
      interval = "5m"
      delay    = "10s"
      mode     = "delay"
    }

    task "warehouse" {
      driver = var.driver
      user   = var.perkbus_user

      # On SIGTERM it stops answering reports and finishes the batch it is applying.
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
        args    = ["--log-level", var.log_level, "warehouse"]
      }

      env {
        PERKBUS_VAR_DIR  = "${NOMAD_TASK_DIR}/var"
        PYTHONUNBUFFERED = "1"
        # a node of its own: no redemption burst to wait out here
        PERKBUS_WAREHOUSE_BURST_LAG_S = "0"
      }

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

      # PERKBUS_WAREHOUSE_URL from the Nomad variable; without it the task waits or fails,
      # so it never falls back to a DuckDB file in its (ephemeral) task directory.
      template {
        destination          = "secrets/warehouse.env"
        env                  = true
        change_mode          = "restart"
        splay                = "30s"
        error_on_missing_key = true
        data                 = <<-EOF
          {{ with nomadVar "${var.secrets_path}" }}PERKBUS_WAREHOUSE_URL={{ .warehouse_url | toJSON }}{{ end }}
        EOF
      }

      resources {
        cpu    = var.cpu
        memory = var.memory
      }
    }
  }
}
