# Read access to the perkbus Nomad variable for the actor hosts and the edges.
#
# A task reads, without any policy, only the variables under nomad/jobs/<its job ID>;
# the perkbus jobs are perkbus-actors and perkbus-edge, and share nomad/jobs/perkbus. With
# ACLs enabled, attach this policy to each job (see README.md, "Secrets"):
#
#   nomad acl policy apply -namespace default -job perkbus-actors \
#     perkbus-actors-variables deploy/nomad/perkbus-variables.policy.hcl
#   nomad acl policy apply -namespace default -job perkbus-edge \
#     perkbus-edge-variables deploy/nomad/perkbus-variables.policy.hcl
#
# Change "default" if the jobs run in another namespace.
namespace "default" {
  variables {
    path "nomad/jobs/perkbus" {
      capabilities = ["read"]
    }
  }
}
