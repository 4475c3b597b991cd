// Alert rules on the app's log events, to one action group that e-mails operations. Each rule's
// query is a file of docs/kql/ (loaded at build time: one source with what operators paste).
// Without an e-mail address the rules still fire and show in Azure Monitor, with no one told.

param applicationInsightsId string
param location string = resourceGroup().location
param tags object = {}
param namePrefix string
@description('Where alerts are e-mailed; empty: no action group.')
param alertEmail string = ''
@description('Graph 429s in 15 minutes above which throttling counts as a surge.')
param throttlingAlertThreshold int = 50

var notify = !empty(alertEmail)

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (notify) {
  name: '${namePrefix}-operations'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'ztp-ops'
    enabled: true
    emailReceivers: [
      {
        name: 'operations'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var rules = [
  {
    name: 'dead-letters'
    displayName: 'Dead letters present'
    description: 'A Service Bus queue of the app holds dead-lettered messages (see docs/kql/dead-letters.kql).'
    severity: 2
    query: loadTextContent('../../docs/kql/alert-dead-letters.kql')
    threshold: 0
    frequency: 'PT15M'
    window: 'PT15M'
  }
  {
    name: 'devices-stalled'
    displayName: 'Devices stalled'
    description: 'Devices passed the deadline of the step they waited for (see docs/kql/stuck-devices.kql; ztp redrive starts them again).'
    severity: 2
    query: loadTextContent('../../docs/kql/alert-devices-stalled.kql')
    threshold: 0
    frequency: 'PT15M'
    window: 'PT15M'
  }
  {
    name: 'graph-throttling'
    displayName: 'Graph 429 surge'
    description: 'Graph throttled more work than usual (see docs/kql/throttling-per-hour.kql).'
    severity: 3
    query: loadTextContent('../../docs/kql/alert-graph-throttling.kql')
    threshold: throttlingAlertThreshold
    frequency: 'PT15M'
    window: 'PT15M'
  }
  {
    name: 'health-degraded'
    displayName: 'Health degraded'
    description: 'A dependency check of the app failed (storage, Service Bus or Graph).'
    severity: 1
    query: loadTextContent('../../docs/kql/alert-health-degraded.kql')
    threshold: 0
    frequency: 'PT5M'
    window: 'PT15M'
  }
  {
    name: 'intake-failures'
    displayName: 'Supplier file without a report'
    description: 'A supplier file stayed processing past its deadline or its trigger gave up on it (see docs/kql/intake-failures.kql).'
    severity: 2
    query: loadTextContent('../../docs/kql/alert-intake-failures.kql')
    threshold: 0
    frequency: 'PT15M'
    window: 'PT15M'
  }
]

resource alertRules 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = [
  for rule in rules: {
    name: '${namePrefix}-${rule.name}'
    location: location
    tags: tags
    properties: {
      displayName: rule.displayName
      description: rule.description
      severity: rule.severity
      enabled: true
      scopes: [
        applicationInsightsId
      ]
      evaluationFrequency: rule.frequency
      windowSize: rule.window
      criteria: {
        allOf: [
          {
            query: rule.query
            timeAggregation: 'Count'
            operator: 'GreaterThan'
            threshold: rule.threshold
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      autoMitigate: true
      actions: {
        actionGroups: notify ? [actionGroup.id] : []
      }
    }
  }
]

output ruleNames array = [for (rule, i) in rules: alertRules[i].name]
