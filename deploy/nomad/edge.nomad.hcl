# perkbus HTTP edge: `perkbus edge`, run from the virtualenv perkbus is installed in.
#
#   nomad job run deploy/nomad/edge.nomad.hcl
#
# Needs the NATS cluster (nats.nomad.hcl), running actor hosts (actors.nomad.hcl: the
# readiness check asks one of them) and the Nomad variable with the JWT public key
# (README.md, "Secrets"). Each edge listens on a dynamic port, registered as the Nomad
# service perkbus-edge; point the load balancer at that service.

variable "datacenters" {
  description = "Datacenters the edges may run in."
  type        = list(string)
  default     = ["*"]
}

variable "edge_count" {
  description = "Number of edges."
  type        = number
  default     = 2
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
  description = "System user the edge runs as."
  type        = string
  default     = "perkbus"
}

variable "secrets_path" {
  description = "Nomad variable holding jwt_public_key (PEM)."
  type        = string
  default     = "nomad/jobs/perkbus"
}

variable "nats_service" {
  description = "Nomad service of the NATS cluster's client port."
  type        = string
  default     = "perkbus-nats"
}

variable "jwt_issuer" {
  description = "PERKBUS_EDGE_JWT_ISSUER: required iss claim of access tokens."
  type        = string
  default     = "perkbus"
}

variable "jwt_audience" {
  description = "PERKBUS_EDGE_JWT_AUDIENCE: required aud claim of access tokens."
  type        = string
  default     = "perkbus-api"
}

variable "public_url" {
  description = "PERKBUS_EDGE_PUBLIC_URL: the site's origin as browsers see it (https://…), when the load balancer terminates TLS: Secure cookies, HSTS, SSO redirect URIs."
  type        = string
  default     = ""
}

variable "trusted_proxies" {
  description = "PERKBUS_EDGE_TRUSTED_PROXIES: the load balancers' addresses or networks, comma-separated, whose X-Forwarded-For names the client (rate limits by address)."
  type        = string
  default     = ""
}

variable "request_timeout_s" {
  description = "PERKBUS_EDGE_REQUEST_TIMEOUT_S: how long the edge waits for an actor's reply."
  type        = number
  default     = 5
}

variable "service_tags" {
  description = "Tags of the perkbus-edge service (e.g. routing tags for the load balancer)."
  type        = list(string)
  default     = ["http", "api"]
}

variable "auto_promote" {
  description = "Promote the canary by itself once it is healthy; false waits for `nomad deployment promote`."
  type        = bool
  default     = true
}

variable "log_level" {
  description = "Log level (DEBUG, INFO, WARNING, ERROR)."
  type        = string
  default     = "INFO"
}

variable "cpu" {
  description = "CPU reserved per edge, in MHz."
  type        = number
  default     = 500
}

variable "memory" {
  description = "Memory reserved per edge, in MB."
  type        = number
  default     = 512
}

locals {
  mount_install = var.driver == "exec" && var.perkbus_install_volume != ""
}

job "perkbus-edge" {
  datacenters = var.datacenters
  type        = "service"

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  group "edge" {
    count = var.edge_count

    # Prefer different clients, so that losing one takes out one edge.
    spread {
      attribute = "${node.unique.id}"
    }

    network {
      port "http" {}
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

    # A new version starts as one canary beside the running edges; it is promoted once
    # both checks pass, and the deployment reverts to the last good version otherwise.
    update {
      max_parallel      = 1
      canary            = 1
      auto_promote      = var.auto_promote
      auto_revert       = true
      health_check      = "checks"
      min_healthy_time  = "10s"
      healthy_deadline  = "3m"
      progress_deadline = "10m"
    }

    restart {
      attempts = 3
      interval = "5m"
      delay    = "10s"
      mode     = "fail"
    }

    task "edge" {
      driver = var.driver
      user   = var.perkbus_user

      # Deregister from the service first, so the load balancer stops sending requests,
      # then SIGTERM: the edge finishes the requests it is answering and exits.
      shutdown_delay = "5s"
      kill_signal    = "SIGTERM"
      kill_timeout   = "15s"

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
        args    = ["--log-level", var.log_level, "edge"]
      }

      # Only PERKBUS_<SECTION>_<FIELD> names that are settings: perkbus refuses unknown ones.
      # The edge holds as many new connections as the client's net.core.somaxconn allows
      # (PERKBUS_EDGE_LISTEN_BACKLOG=0): raise that sysctl on clients whose edges take
      # bursts of connections straight from browsers.
      # Each connection is an open file: the edge raises its soft RLIMIT_NOFILE to the hard
      # one the client's task driver gives it, and warns when that is below the backlog.
      env {
        PERKBUS_EDGE_HOST                = "0.0.0.0"
        PERKBUS_EDGE_PORT                = "${NOMAD_PORT_http}"
        PERKBUS_EDGE_JWT_PUBLIC_KEY_FILE = "${NOMAD_SECRETS_DIR}/jwt-public.pem"
        PERKBUS_EDGE_SSO_STATE_KEY_FILE  = "${NOMAD_SECRETS_DIR}/sso-state.key"
        PERKBUS_EDGE_JWT_ISSUER          = var.jwt_issuer
        PERKBUS_EDGE_JWT_AUDIENCE        = var.jwt_audience
        PERKBUS_EDGE_REQUEST_TIMEOUT_S   = "${var.request_timeout_s}"
        PERKBUS_EDGE_PUBLIC_URL          = var.public_url
        PERKBUS_EDGE_TRUSTED_PROXIES     = var.trusted_proxies
        PERKBUS_VAR_DIR                  = "${NOMAD_TASK_DIR}/var"
        PYTHONUNBUFFERED                 = "1"
      }

      # PERKBUS_NATS_URL: one NATS node, picked by rendezvous hashing on the allocation
      # so that edges spread over the nodes. The client learns the other nodes from the
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

      # The public half of the token-signing key. The task waits until the variable
      # exists and fails if it lacks jwt_public_key; a new key restarts the edges (each
      # after a random delay up to splay, so they do not all restart at once).
      template {
        destination          = "secrets/jwt-public.pem"
        change_mode          = "restart"
        splay                = "30s"
        perms                = "0644"
        error_on_missing_key = true
        data                 = <<-EOF
          {{- with nomadVar "${var.secrets_path}" }}{{ .jwt_public_key }}{{ end }}
        EOF
      }

      # The key sealing SSO login cookies, the same for every edge: a login begun on one
      # edge may come back on another.
      template {
        destination          = "secrets/sso-state.key"
        change_mode          = "restart"
        splay                = "30s"
        perms                = "0600"
        error_on_missing_key = true
        data                 = <<-EOF
          {{- with nomadVar "${var.secrets_path}" }}{{ .sso_state_key }}{{ end }}
        EOF
      }

      # Redis is optional: without redis_url every edge keeps its cache, counters and
      # rate limits in its own memory (ADR 23).
      template {
        destination = "secrets/redis.env"
        env         = true
        change_mode = "restart"
        splay       = "30s"
        data        = <<-EOF
          {{ with nomadVar "${var.secrets_path}" }}{{ if .redis_url }}PERKBUS_REDIS_URL={{ .redis_url | toJSON }}{{ end }}{{ end }}
        EOF
      }

      # Optional: a Prometheus server on another host sends it as a bearer token to
      # /metrics (without it, /metrics answers this machine only).
      template {
        destination = "secrets/metrics.env"
        env         = true
        change_mode = "restart"
        splay       = "30s"
        data        = <<-EOF
          {{ with nomadVar "${var.secrets_path}" }}{{ if .metrics_token }}PERKBUS_EDGE_METRICS_TOKEN={{ .metrics_token | toJSON }}{{ end }}{{ end }}
        EOF
      }

      service {
        name     = "perkbus-edge"
        provider = "nomad"
        port     = "http"
        tags     = var.service_tags

        # Liveness: the process answers. Three failures in a row restart the task.
        check {
          name     = "edge-healthz"
          type     = "http"
          path     = "/healthz"
          interval = "10s"
          timeout  = "2s"

          check_restart {
            limit = 3
            grace = "15s"
          }
        }

        # Readiness: NATS is connected and an actor host answers with its stores
        # reachable. It gates deployments, but never restarts the edge: an edge cannot
        # fix a missing actor host or database by restarting.
        check {
          name     = "edge-readyz"
          type     = "http"
          path     = "/readyz"
          interval = "10s"
          timeout  = "5s"
        }
      }

      resources {
        cpu    = var.cpu
        memory = var.memory
      }
    }
  }
}
