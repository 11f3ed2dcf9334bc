# Read access to the perkbus Nomad variable for the actor hosts, the edges and the warehouse.
#
# A task reads, without any policy, only the variables under nomad/jobs/<its job ID>;
# the perkbus jobs are perkbus-actors, perkbus-edge and perkbus-warehouse, and share
# nomad/jobs/perkbus. With
# ACLs enabled, attach this policy to each job (see README.md, "Secrets"):
#
#   nomad acl policy apply -namespace default -job perkbus-actors \
#     perkbus-actors-variables deploy/nomad/perkbus-variables.policy.hcl
#   nomad acl policy apply -namespace default -job perkbus-edge \
#     perkbus-edge-variables deploy/nomad/perkbus-variables.policy.hcl
#   nomad acl policy apply -namespace default -job perkbus-warehouse \
#     perkbus-warehouse-variables deploy/nomad/perkbus-variables.policy.hcl
#
# Change "default" if the jobs run in another namespace.
namespace "default" {
  variables {
    path "nomad/jobs/perkbus" {
      capabilities = ["read"]
    }
  }
}
