"""A small contract for the Prism-compatibility tests: a resource with named examples and a
declared 404, and a schema that refers to itself (which Prism answers with a 500)."""

from __future__ import annotations

from pathlib import Path

PETS = """
openapi: 3.1.0
info: {title: Pets, version: "1"}
servers: [{url: https://pets.example/v1}]
security: [{ApiKey: []}]
components:
  securitySchemes:
    ApiKey: {type: apiKey, in: header, name: X-API-Key}
  schemas:
    Pet:
      type: object
      required: [id, name, kind]
      properties:
        id: {type: string}
        name: {type: string}
        kind: {type: string, enum: [cat, dog]}
    PetCreate:
      type: object
      required: [name, kind]
      properties:
        name: {type: string, maxLength: 40}
        kind: {type: string, enum: [cat, dog]}
    Node:
      type: object
      required: [id, children]
      properties:
        id: {type: string}
        parent: {$ref: "#/components/schemas/Node"}
        children:
          type: array
          items: {$ref: "#/components/schemas/Node"}
    Error:
      type: object
      required: [detail]
      properties:
        detail: {type: string}
paths:
  /pets:
    post:
      operationId: createPet
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/PetCreate"}
      responses:
        "201":
          description: Created
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Pet"}
          links:
            getPet:
              operationId: getPet
              parameters: {pet_id: $response.body#/id}
        "422":
          description: Invalid
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Error"}
              example: {detail: "Invalid pet"}
    get:
      operationId: listPets
      responses:
        "200":
          description: Every pet
          content:
            application/json:
              schema:
                type: array
                items: {$ref: "#/components/schemas/Pet"}
  /pets/{pet_id}:
    parameters:
      - {name: pet_id, in: path, required: true, schema: {type: string}}
    get:
      operationId: getPet
      responses:
        "200":
          description: The pet
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Pet"}
              examples:
                cat: {value: {id: p1, name: Tom, kind: cat}}
                dog: {value: {id: p2, name: Rex, kind: dog}}
        "404":
          description: No such pet
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Error"}
              examples:
                notFound: {value: {detail: "No such pet"}}
                gone: {value: {detail: "That pet has gone"}}
  /nodes/{node_id}:
    get:
      operationId: getNode
      parameters:
        - {name: node_id, in: path, required: true, schema: {type: string}}
      responses:
        "200":
          description: A node of a tree
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Node"}
"""

PREFIX = "/pets/v1"
KEY = {"X-API-Key": "k"}


def write_pets(directory: Path) -> Path:
    path = directory / "pets.yaml"
    path.write_text(PETS)
    return path
