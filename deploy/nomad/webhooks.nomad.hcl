# The perkbus webhook relay: `perkbus webhooks`, run from the virtualenv perkbus is
# installed in.
#
#   nomad job run deploy/nomad/webhooks.nomad.hcl
#
# Needs the NATS cluster (nats.nomad.hcl), the actor hosts (which create the PB_EVENTS
# stream and give the relay each endpoint's secret), and the Nomad variable with the
# ledger's MySQL URL (README.md, "Secrets"): the deliveries are kept there, in tables of
# their own. It sends tenants' events to their webhook endpoints and answers requests
# about the deliveries (pb.whk.<tenant>); it opens no port, but it makes outgoing HTTPS
# requests to addresses tenants choose: run it where egress to the internet is allowed
# and the installation's own network is not (it refuses private addresses itself too).
#
# Beside the relay runs the mailer (ADR 41): emails to the people events are about, sent
# to the SMTP server named by `smtp_url` in the Nomad variable (allow egress to that one
# host and port, e.g. a mail relay's 587); without `smtp_url` mail is off (never kept
# in the task's ephemeral directory).
#
# ONE instance (ADR 37): the fan-out keeps its place in the store and fans each event out
# once, so a second instance would only race it. Killed at any moment, the next instance
# goes on from the last committed batch, and attempts in flight are tried again once
# their lease passes; meanwhile JetStream keeps the events and deliveries only lag.

variable "datacenters" {
  description = "Datacenters the webhook relay may run in."
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
  description = "System user the webhook relay runs as."
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

variable "log_level" {
  description = "Log level (DEBUG, INFO, WARNING, ERROR)."
  type        = string
  default     = "INFO"
}

variable "cpu" {
  description = "CPU reserved for the webhook relay, in MHz."
  type        = number
  default     = 500
}

variable "memory" {
  description = "Memory reserved for the webhook relay, in MB."
  type        = number
  default     = 256
}

locals {
  mount_install = var.driver == "exec" && var.perkbus_install_volume != ""
}

job "perkbus-webhooks" {
  datacenters = var.datacenters
  type        = "service"

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  group "webhooks" {
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

    task "webhooks" {
      driver = var.driver
      user   = var.perkbus_user

      # On SIGTERM it stops answering, finishes its batch and the attempts in flight.
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
        args    = ["--log-level", var.log_level, "webhooks"]
      }

      env {
        PERKBUS_VAR_DIR  = "${NOMAD_TASK_DIR}/var"
        PYTHONUNBUFFERED = "1"
        # on its own node the relay need not wait out redemption bursts
        PERKBUS_WEBHOOKS_BURST_LAG_S = "0"
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

      # PERKBUS_MYSQL_URL from the Nomad variable; without it the task waits or fails, so
      # it never falls back to a SQLite file in its (ephemeral) task directory.
      template {
        destination          = "secrets/webhooks.env"
        env                  = true
        change_mode          = "restart"
        splay                = "30s"
        error_on_missing_key = true
        data                 = <<-EOF
          {{ with nomadVar "${var.secrets_path}" }}PERKBUS_MYSQL_URL={{ .mysql_url | toJSON }}{{ end }}
        EOF
      }

      # the mailer: PERKBUS_MAIL_SMTP_URL from `smtp_url` (optional: without it mail is
      # off), its From and the site its links open from `mail_sender` and `app_url`
      template {
        destination = "secrets/mail.env"
        env         = true
        change_mode = "restart"
        splay       = "30s"
        data        = <<-EOF
          {{ with nomadVar "${var.secrets_path}" -}}
          {{ if .smtp_url }}PERKBUS_MAIL_SMTP_URL={{ .smtp_url | toJSON }}{{ else }}PERKBUS_MAIL_ENABLED=false{{ end }}
          {{ if .mail_sender }}PERKBUS_MAIL_SENDER={{ .mail_sender | toJSON }}{{ end }}
          {{ if .app_url }}PERKBUS_MAIL_APP_URL={{ .app_url | toJSON }}{{ end }}
          {{- end }}
        EOF
      }

      resources {
        cpu    = var.cpu
        memory = var.memory
      }
    }
  }
}
