// The operations workbook: one Azure Monitor Workbook on the app's Application Insights, each
// panel one of the queries in docs/kql/ (loaded from there at build time, so the workbook and the
// files operators paste are one source). See infra/README.md for what each panel shows.

param applicationInsightsId string
param location string = resourceGroup().location
param tags object = {}
param displayName string = 'Zero-touch provisioning: operations'

var panels = [
  {
    name: 'devices-per-state'
    title: 'Devices per state (latest transition of each serial)'
    query: loadTextContent('../../docs/kql/devices-per-state.kql')
    visualization: 'barchart'
  }
  {
    name: 'throughput-per-hour'
    title: 'Throughput per hour: devices registered and enrolled'
    query: loadTextContent('../../docs/kql/throughput-per-hour.kql')
    visualization: 'timechart'
  }
  {
    name: 'throttling-per-hour'
    title: 'Throttling per hour: Graph 429s, the app\'s own budget, deferred re-tags and syncs'
    query: loadTextContent('../../docs/kql/throttling-per-hour.kql')
    visualization: 'timechart'
  }
  {
    name: 'stuck-devices'
    title: 'Stalled devices, and devices past the deadline of the step they wait for'
    query: loadTextContent('../../docs/kql/stuck-devices.kql')
    visualization: 'table'
  }
  {
    name: 'intake-failures'
    title: 'Supplier files that never got a report (stuck, or given up by their trigger)'
    query: loadTextContent('../../docs/kql/intake-failures.kql')
    visualization: 'table'
  }
  {
    name: 'dead-letters'
    title: 'Dead-lettered messages'
    query: loadTextContent('../../docs/kql/dead-letters.kql')
    visualization: 'table'
  }
  {
    name: 'given-up-work'
    title: 'Work set aside after its last transient retry'
    query: loadTextContent('../../docs/kql/given-up-work.kql')
    visualization: 'table'
  }
  {
    name: 'reprovision-requests'
    title: 'Re-provisioning requests: open, failed and stalled'
    query: loadTextContent('../../docs/kql/reprovision-requests.kql')
    visualization: 'table'
  }
  {
    name: 'batch-outcomes'
    title: 'Supplier files per day'
    query: loadTextContent('../../docs/kql/batch-outcomes.kql')
    visualization: 'table'
  }
]

var workbook = {
  version: 'Notebook/1.0'
  items: concat(
    [
      {
        type: 1
        name: 'about'
        content: {
          json: '## Zero-touch provisioning\nEach panel is one query of docs/kql/ over the app\'s log events (catalogue: docs/events.md). Each query sets its own time window.'
        }
      }
    ],
    map(panels, panel => {
      type: 3
      name: panel.name
      content: {
        version: 'KqlItem/1.0'
        query: panel.query
        size: 0
        title: panel.title
        queryType: 0
        resourceType: 'microsoft.insights/components'
        visualization: panel.visualization
      }
    })
  )
  fallbackResourceIds: [
    applicationInsightsId
  ]
}

resource operationsWorkbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, applicationInsightsId, 'ztp-operations-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: applicationInsightsId
    version: 'Notebook/1.0'
    serializedData: string(workbook)
  }
}

output id string = operationsWorkbook.id
