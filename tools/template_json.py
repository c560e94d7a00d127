"""Prints a CloudFormation/SAM template as JSON, read with cfn-lint's own YAML
loader, so short-form intrinsics (!Ref, !GetAtt, !If) come out as CloudFormation
reads them ({"Ref": ...}, {"Fn::GetAtt": [...]}, {"Fn::If": [...]}).

usage: template_json.py TEMPLATE
"""
import json
import sys

from cfnlint.decode import cfn_yaml

print(json.dumps(cfn_yaml.load(sys.argv[1])))
