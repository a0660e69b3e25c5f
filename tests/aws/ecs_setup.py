"""Sets up ECS on a moto server for herd's StopTask test, with boto3 (which moto brings).

Usage: ecs_setup.py ENDPOINT CLUSTER
Creates a VPC, subnet and security group (awsvpc needs them), a cluster, a FARGATE task
definition, and three running tasks: two tagged herd-target=yes, one tagged herd-target=no;
and Container Insights data points for the tagged ones.
Prints JSON: {"cluster": ..., "tagged": [task ids], "untagged": [task ids]}.
"""

import json
import sys

import boto3

endpoint, cluster = sys.argv[1], sys.argv[2]
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
ec2 = boto3.client("ec2", **kw)
ecs = boto3.client("ecs", **kw)
vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
# Task network interfaces get a private DNS name, which needs DNS hostnames on the VPC.
ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
sg = ec2.create_security_group(GroupName=cluster + "-sg", Description="herd test", VpcId=vpc)["GroupId"]
ecs.create_cluster(clusterName=cluster)
ecs.register_task_definition(
    family=cluster + "-worker",
    requiresCompatibilities=["FARGATE"],
    networkMode="awsvpc",
    cpu="2048",
    memory="4096",
    containerDefinitions=[{"name": "worker", "image": "worker:latest", "memory": 4096}],
)
out = {"cluster": cluster, "tagged": [], "untagged": []}
for tag in ["yes", "yes", "no"]:
    task = ecs.run_task(
        cluster=cluster,
        taskDefinition=cluster + "-worker",
        launchType="FARGATE",
        count=1,
        tags=[{"key": "herd-target", "value": tag}],
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg]}},
    )["tasks"][0]
    out["tagged" if tag == "yes" else "untagged"].append(task["taskArn"].rsplit("/", 1)[-1])
# Container Insights for the tagged tasks: 300 MB of memory and a quarter of the CPU reservation.
cw = boto3.client("cloudwatch", **kw)
for task in out["tagged"]:
    dims = [{"Name": "ClusterName", "Value": cluster}, {"Name": "TaskId", "Value": task}]
    cw.put_metric_data(
        Namespace="ECS/ContainerInsights",
        MetricData=[
            {"MetricName": "MemoryUtilized", "Dimensions": dims, "Value": 300.0, "Unit": "Megabytes"},
            {"MetricName": "CpuUtilized", "Dimensions": dims, "Value": 512.0, "Unit": "None"},
            {"MetricName": "CpuReserved", "Dimensions": dims, "Value": 2048.0, "Unit": "None"},
        ],
    )
print(json.dumps(out))
